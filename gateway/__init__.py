"""The API gateway: the only door for people and partner systems."""
