// Ways in: signing in (with a two-factor code when the account has one, or a provider's SSO),
// accepting an invitation, resetting a password, claiming an operator-made account, signing up,
// and the forced first steps of a limited session (/account-setup).
import { ApiError, get, href, patch, post } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { session, signIn, signOut } from '../lib/session.js';
import { card, field, form, page, toast } from '../lib/ui.js';

const PASSWORD_HINT = 'At least 10 characters; a long phrase is easiest to remember. Not your email address.';

/** Only a path of this portal may be the place to go after signing in (no open redirect). */
function safeNext(next) {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

/** Go to ``path`` as a fresh start: the app reloads the session, the header and the bell. */
async function enter(app, path) {
  history.replaceState(null, '', path);
  await app.reload();
}

/** The single-use token the emails put in the URL fragment (#token=...): never sent to a server. */
function fragmentToken() {
  return new URLSearchParams(location.hash.slice(1)).get('token') || '';
}

/** A 429 says when to retry; say it in minutes a person understands. */
function explainThrottle(error) {
  if (error instanceof ApiError && error.status === 429) {
    const seconds = Number(error.details.retry_after) || 0;
    const wait = seconds > 90 ? `about ${Math.ceil(seconds / 60)} minutes` : seconds ? `${seconds} seconds` : 'a while';
    error.message = `Too many failed sign-ins. For your security, signing in is paused: try again in ${wait}, or reset your password.`;
  }
  return error;
}

/** The same signed-out frame for every screen here: a narrow column. */
const narrow = (title, ...children) => page(title, h('div', { class: 'auth-box' }, ...children));

// --- /sign-in --------------------------------------------------------------------------------
async function renderSignIn({ query, app }) {
  const next = safeNext(query.next);
  const otpSlot = h('div', { class: 'otp-slot' });
  let needsCode = false;

  const signInForm = form({
    submit: 'Sign in',
    fields: [
      { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username' },
      { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' },
      otpSlot,
    ],
    onSubmit: async (vals) => {
      const body = { email: vals.email || '', password: vals.password || '' };
      if (needsCode && vals.otp) body.otp = vals.otp.replace(/\s+/g, '');
      try {
        await signIn(body);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401 && error.details.reason === 'two_factor_required') {
          if (!needsCode) {
            // The password was right: ask for the code and let the user sign in again.
            needsCode = true;
            replace(otpSlot, field({
              name: 'otp', label: 'Authentication code', required: true, autocomplete: 'one-time-code',
              hint: 'The 6-digit code from your authenticator app, or one of your recovery codes.',
              attrs: { inputmode: 'numeric' },
            }));
            otpSlot.querySelector('input').focus();
            return;
          }
        }
        throw explainThrottle(error);
      }
      await enter(app, next);
    },
  });

  const providers = h('div', { class: 'sso' });
  get('/auth/sso').then(({ providers: names = [] }) => {
    if (!names.length) return;
    replace(providers, h('p', { class: 'muted' }, 'Or sign in with your company account:'),
      h('ul', { class: 'sso-list' }, names.map((name) => h('li', {},
        // A plain link: the gateway takes the browser to the provider and back, signed in.
        h('a', { class: 'button', href: href(`/auth/sso/${encodeURIComponent(name)}/start`, { next }) },
          `Sign in with ${providerLabel(name)}`)))));
  }).catch(() => { /* no providers configured or reachable: password sign-in still works */ });

  // A sign-in with a provider that was refused comes back here saying why.
  const ssoError = query.sso_error ? h('div', { class: 'form-alert', role: 'alert' }, query.sso_error) : null;
  return narrow('Sign in',
    ssoError,
    signInForm,
    h('p', {}, h('a', { href: '/forgot-password' }, 'Forgot your password?')),
    providers,
    h('div', { class: 'auth-more' },
      h('p', {}, 'Your company has an account with us but no portal user yet? ', h('a', { href: '/claim' }, 'Claim your company account')),
      h('p', {}, 'New here? ', h('a', { href: '/signup' }, 'Create an account'))));
}

function providerLabel(name) {
  const known = { google: 'Google', microsoft: 'Microsoft', azure: 'Microsoft', okta: 'Okta', github: 'GitHub' };
  return known[name.toLowerCase()] || name.charAt(0).toUpperCase() + name.slice(1);
}

// --- /accept-invite --------------------------------------------------------------------------
async function renderAcceptInvite({ app }) {
  const token = fragmentToken();
  if (!token) {
    return narrow('Accept your invitation',
      h('p', {}, 'This page needs the link from your invitation email. Open the link in the email again, or ask your administrator for a new invitation.'),
      h('p', {}, 'Already have an account? ', h('a', { href: '/sign-in' }, 'Sign in')));
  }
  const holder = h('div', {});
  const acceptForm = form({
    submit: 'Create my account',
    fields: [
      { name: 'name', label: 'Your name', required: true, autocomplete: 'name' },
      { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT },
    ],
    onSubmit: async (vals) => {
      let user;
      try {
        user = await post('/invites/accept', { token, name: vals.name || '', password: vals.password || '' });
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
          replace(holder, h('div', { class: 'form-alert', role: 'alert' }, error.message),
            h('p', {}, 'Ask your administrator to invite you again, or ', h('a', { href: '/sign-in' }, 'sign in'),
              ' if you already have an account.'));
          return;
        }
        throw error;
      }
      await signIn({ email: user.email, password: vals.password });
      toast('Welcome! Your account is ready.');
      await enter(app, '/');
    },
  });
  replace(holder, h('p', {}, 'Choose your name and a password to finish your portal account.'), acceptForm);
  return narrow('Accept your invitation', holder);
}

// --- /forgot-password and /reset-password ----------------------------------------------------
async function renderForgot() {
  const holder = h('div', {});
  replace(holder,
    h('p', {}, 'Enter the email address you sign in with; we will send you a link to choose a new password.'),
    form({
        submit: 'Send reset link',
      fields: [{ name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username' }],
      onSubmit: async (vals) => {
        await post('/auth/password-reset', { email: vals.email || '' });
        // The answer is the same whether the account exists or not; so is this message.
        replace(holder, h('p', { role: 'status', class: 'acct-notice' },
          `If an account exists for ${vals.email}, we sent a link to reset its password. It works for an hour; check your spam folder if it does not arrive.`));
      },
    }));
  return narrow('Forgot your password?', holder, h('p', {}, h('a', { href: '/sign-in' }, 'Back to sign in')));
}

async function renderReset({ app }) {
  const token = fragmentToken();
  if (!token) {
    return narrow('Choose a new password',
      h('p', {}, 'This page needs the link from the password reset email. '),
      h('p', {}, h('a', { href: '/forgot-password' }, 'Ask for a new reset link')));
  }
  return narrow('Choose a new password', form({
    submit: 'Set new password',
    fields: [{ name: 'password', label: 'New password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT }],
    onSubmit: async (vals) => {
      try {
        await post('/auth/password-reset/confirm', { token, password: vals.password || '' });
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 409 || error.status === 410)) {
          error.message = `${error.message} Ask for a new link on "Forgot your password?".`;
        }
        throw error;
      }
      app.navigate('/sign-in', { replace: true });
      toast('Your password is changed. Sign in with the new one.');
    },
  }), h('p', {}, h('a', { href: '/forgot-password' }, 'Ask for a new reset link')));
}

// --- /claim and /signup ----------------------------------------------------------------------
async function renderClaim({ app }) {
  return narrow('Claim your company account',
    h('p', {}, 'If we created an account for your company, claim it with the phone number, email address and postal code we have on file. You become its first portal user and administrator.'),
    form({
        submit: 'Claim account',
      fields: [
        { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'email', hint: 'The email address of your company on our record; you will sign in with it.' },
        { name: 'phone', label: 'Phone', type: 'tel', required: true, autocomplete: 'tel' },
        { name: 'postal_code', label: 'Postal code', required: true, autocomplete: 'postal-code' },
        { name: 'name', label: 'Your name', autocomplete: 'name' },
        { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT },
      ],
      onSubmit: async (vals) => {
        await post('/auth/claim', vals);
        // The answer is a token for API clients; the browser gets its cookie from a sign-in.
        await signIn({ email: vals.email, password: vals.password });
        toast('Your company account is yours now.');
        await enter(app, '/');
      },
    }),
    h('p', {}, h('a', { href: '/sign-in' }, 'Back to sign in')));
}

async function renderSignup({ app }) {
  return narrow('Create an account',
    h('p', {}, 'Open an account for your company and become its first portal user.'),
    form({
        submit: 'Create account',
      fields: [
        { name: 'company_name', label: 'Company name', required: true, autocomplete: 'organization' },
        { name: 'name', label: 'Your name', required: true, autocomplete: 'name' },
        { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'email' },
        { name: 'phone', label: 'Phone', type: 'tel', autocomplete: 'tel' },
        { name: 'postal_code', label: 'Postal code', autocomplete: 'postal-code' },
        { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT },
      ],
      onSubmit: async (vals) => {
        try {
          await post('/auth/signup', vals);
        } catch (error) {
          // 403: the operator has not opened self-service sign-up (there is no way to know before).
          if (error instanceof ApiError && error.status === 403) {
            error.message = `${error.message} If your company already works with us, you can claim its account instead.`;
          }
          throw error;
        }
        await signIn({ email: vals.email, password: vals.password });
        toast('Your account is ready.');
        await enter(app, '/');
      },
    }),
    h('p', {}, h('a', { href: '/claim' }, 'Claim your company account'), ' · ', h('a', { href: '/sign-in' }, 'Back to sign in')));
}

// --- /account-setup (a limited session: what must happen before anything else) ---------------
async function renderSetup({ app }) {
  if (session.limited === 'password_change') return passwordSetup(app);
  if (session.limited === 'two_factor_setup') return twoFactorSetup(app);
  return page('Account set-up', h('p', {}, 'Your account is set up; nothing to do here.'), h('p', {}, h('a', { href: '/' }, 'Go to the start page')));
}

function passwordSetup(app) {
  const email = session.user.email;
  return page('Choose your own password',
    h('p', {}, 'You signed in with a temporary password. Choose your own before you continue.'),
    form({
        submit: 'Change password',
      fields: [
        { name: 'current_password', label: 'Current password', type: 'password', required: true, autocomplete: 'current-password', hint: 'The temporary password you just signed in with.' },
        { name: 'new_password', label: 'New password', type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_HINT },
      ],
      onSubmit: async (vals) => {
        await patch('/me', { current_password: vals.current_password || '', new_password: vals.new_password || '' });
        // The temporary session ends with the change: sign in again with the new password.
        await quietSignOut();
        await signIn({ email, password: vals.new_password });
        toast('Your password is changed.');
        await enter(app, '/');
      },
    }));
}

async function quietSignOut() {
  try {
    await signOut();
  } catch {
    /* the session may have ended already (it does when the password or 2FA changes) */
  }
}

/** "JBSWY3DPEHPK3PXP" -> "JBSW Y3DP EHPK 3PXP": easier to type into an app by hand. */
export const groupSecret = (secret) => secret.replace(/\s+/g, '').match(/.{1,4}/g).join(' ');

/**
 * Two-factor set-up, shared with the profile: shows the secret and the otpauth URI as text
 * (no QR service outside), confirms a code, shows the recovery codes once, then ``done()``.
 */
export async function twoFactorEnrol({ onDone, doneLabel, onCancel }) {
  const setup = await post('/me/2fa/setup');
  const holder = h('div', { class: 'twofa' });
  replace(holder,
    h('ol', { class: 'acct-steps' },
      h('li', {}, 'Open your authenticator app (for example Google Authenticator, Microsoft Authenticator, 1Password or Aegis) and add an account.'),
      h('li', {}, 'Type in this key (spaces do not matter):', h('p', { class: 'totp-key' }, h('code', {}, groupSecret(setup.secret)))),
      h('li', {}, 'or, if your app accepts a setup link, use this one:', h('p', { class: 'totp-uri' }, h('code', {}, setup.otpauth_uri))),
      h('li', {}, 'Enter the 6-digit code the app shows.')),
    form({
      label: 'Confirm two-factor sign-in',
      submit: 'Turn on two-factor sign-in',
      actions: onCancel ? [h('button', { type: 'button', onclick: onCancel }, 'Cancel')] : [],
      fields: [{ name: 'code', label: 'Authentication code', required: true, autocomplete: 'one-time-code', attrs: { inputmode: 'numeric' } }],
      onSubmit: async (vals) => {
        const result = await post('/me/2fa/confirm', { code: (vals.code || '').replace(/\s+/g, '') });
        replace(holder, recoveryCodes(result.recovery_codes || [], onDone, doneLabel));
        holder.querySelector('h3, p')?.focus?.();
      },
    }));
  return holder;
}

function recoveryCodes(codes, onDone, doneLabel) {
  const copy = h('button', { type: 'button' }, 'Copy the codes');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(codes.join('\n'));
      toast('Recovery codes copied.');
    } catch {
      toast('Copying is not allowed here; select the codes and copy them by hand.', 'error');
    }
  });
  return h('div', { class: 'recovery' },
    h('p', { class: 'acct-notice', role: 'status', tabindex: '-1' }, 'Two-factor sign-in is on.'),
    h('p', {}, 'Keep these recovery codes somewhere safe: each one signs you in once if you lose your phone. They are shown only now.'),
    h('ul', { class: 'recovery-codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
    h('div', { class: 'actions' }, copy, h('button', { type: 'button', class: 'primary', onclick: onDone }, doneLabel)));
}

async function twoFactorSetup(app) {
  const enrol = await twoFactorEnrol({
    doneLabel: 'I saved the codes — sign in again',
    onDone: async () => {
      // Turning two-factor on ends every session: sign in again, now with a code.
      await quietSignOut();
      toast('Sign in again with your password and a new code from your app.');
      await enter(app, '/sign-in');
    },
  });
  return page('Turn on two-factor sign-in',
    h('p', {}, 'Your operator asks staff to sign in with a code from an authenticator app as well as the password. Set it up to continue.'),
    card('Set up your authenticator app', enrol));
}

export const routes = [
  { path: '/sign-in', title: 'Sign in', access: 'signed-out', render: renderSignIn },
  { path: '/forgot-password', title: 'Forgot your password', access: 'public', render: renderForgot },
  { path: '/reset-password', title: 'Choose a new password', access: 'public', render: renderReset },
  { path: '/accept-invite', title: 'Accept your invitation', access: 'public', render: renderAcceptInvite },
  { path: '/claim', title: 'Claim your company account', access: 'signed-out', render: renderClaim },
  { path: '/signup', title: 'Create an account', access: 'signed-out', render: renderSignup },
  { path: '/account-setup', title: 'Account set-up', access: 'signed-in', whenLimited: true, render: renderSetup },
];
