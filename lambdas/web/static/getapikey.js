/*
 * Behaviour of /getapikey (lambdas/web/pages.ts), the page the Moodle plugin tool_vault frames to
 * obtain an API key: e-mail → one-time code → signed in → the administrator confirms the site and
 * the key's scopes → the key is posted to the parent window as {action: "apikey", apikey}.
 *
 * Security rules (docs/web.md):
 *  - every message goes to the origin of the siteurl the page shows, never to "*", so a page of
 *    another origin that frames this one can never receive the key or even the "close" message;
 *  - where the browser tells us who frames us (location.ancestorOrigins), a parent whose origin is
 *    not the siteurl's is refused before anything is asked;
 *  - the sign-in token lives in this script's memory only (no cookie, no storage, no URL).
 */
/* global document, window, location */
'use strict';

(function () {
  const app = document.getElementById('app');
  if (!app) return;
  const siteUrl = app.dataset.siteurl || '';
  const siteOrigin = app.dataset.siteorigin || '';
  let tab = app.dataset.tab === 'signup' ? 'signup' : 'signin';
  let email = '';
  let token = '';

  const $ = (id) => document.getElementById(id);
  const steps = ['step-email', 'step-code', 'step-confirm', 'step-done', 'step-refused'];

  /** The only way this page talks to its parent: to the site's origin, never "*". */
  function post(message) {
    window.parent.postMessage(message, siteOrigin);
  }

  function show(step) {
    for (const s of steps) $(s).hidden = s !== step;
    for (const el of document.querySelectorAll('[data-tab-only]')) el.hidden = el.dataset.tabOnly !== tab;
    say('');
    const focus = $(step).querySelector('input:not([type=checkbox]), button[type=submit]');
    if (focus) focus.focus();
  }

  function say(text) {
    $('message').textContent = text;
  }

  function refuse(reason) {
    $('refused-reason').textContent = reason;
    show('step-refused');
  }

  async function call(path, body, bearer) {
    const headers = { 'Content-Type': 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let res;
    try {
      res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
    } catch {
      throw new Error('The service cannot be reached. Please try again.');
    }
    let data = {};
    try {
      data = await res.json();
    } catch {
      // keep {}
    }
    if (!res.ok) throw Object.assign(new Error(data.message || `Request failed (${res.status})`), { status: res.status });
    return data;
  }

  /** Runs `work` with the form's buttons disabled, showing its error. */
  async function busy(form, work) {
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    try {
      await work();
    } catch (err) {
      say(err instanceof Error ? err.message : String(err));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  async function sendCode() {
    const { sent } = await call('/signin/code', { email });
    $('sent-to').textContent = email;
    $('code').value = '';
    show('step-code');
    // Beyond the address's limits nothing new is mailed, but the last code still works.
    if (sent === false) say('Too many codes were asked for this address: no new one was sent, but the last code mailed to it still works.');
  }

  $('email-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = $('email').value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) {
      say('Please enter a valid e-mail address.');
      return;
    }
    email = value;
    void busy(ev.currentTarget, sendCode);
  });

  $('code-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('code').value.trim();
    if (!/^[0-9]{6}$/.test(code)) {
      say('The code has 6 digits.');
      return;
    }
    void busy(ev.currentTarget, async () => {
      const data = await call('/signin/verify', { email, code });
      token = data.token;
      $('signed-in-as').textContent = email;
      show('step-confirm');
    });
  });

  $('resend').addEventListener('click', (ev) => void busy(ev.currentTarget.closest('section'), sendCode));
  $('other-email').addEventListener('click', () => show('step-email'));
  $('to-signup').addEventListener('click', () => { tab = 'signup'; show('step-email'); });
  $('to-signin').addEventListener('click', () => { tab = 'signin'; show('step-email'); });

  $('confirm-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const scopes = [...ev.currentTarget.querySelectorAll('input[name=scope]:checked')].map((i) => i.value);
    if (!scopes.length) {
      say('Choose at least one thing the key may do.');
      return;
    }
    void busy(ev.currentTarget, async () => {
      let data;
      try {
        data = await call('/signin/apikey', { siteurl: siteUrl, scopes }, token);
      } catch (err) {
        // The sign-in lasts 15 minutes: after that, start again from the e-mail address.
        if (err.status === 401) show('step-email');
        throw err;
      }
      token = '';
      post({ action: 'apikey', apikey: data.apikey });
      show('step-done');
    });
  });

  $('cancel').addEventListener('click', () => post({ action: 'close' }));

  // Only a frame of the site itself may go on: the key is meant for the plugin of siteUrl.
  if (window.parent === window) {
    refuse('Open this page from your Moodle site: Site administration → Server → Vault.');
    return;
  }
  const ancestors = location.ancestorOrigins;
  if (ancestors && ancestors.length && ancestors[0] !== siteOrigin) {
    refuse(`This page is shown by ${ancestors[0]}, not by the site it would create a key for (${siteOrigin}). No key can be created here.`);
    return;
  }
  show('step-email');
})();
