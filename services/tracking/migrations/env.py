from services.common.migrations import run_env
from services.tracking.models import Base

run_env(Base.metadata)
