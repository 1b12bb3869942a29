/*
 * Behaviour of /dashboard (lambdas/web/dashboard.ts): sign in with an e-mail code, trade the
 * short-lived token for the HttpOnly session cookie, then list, create and revoke API keys.
 * Every value from the server goes into the page with textContent, never as HTML.
 */
/* global document, window */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  if (!$('dash')) return;
  const steps = ['step-email', 'step-code', 'step-keys'];
  let email = '';

  function show(step) {
    for (const s of steps) $(s).hidden = s !== step;
    $('message').textContent = '';
  }
  const say = (text) => { $('message').textContent = text; };

  async function call(method, path, body, bearer) {
    const headers = { 'Content-Type': 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
    let data = {};
    try {
      data = await res.json();
    } catch {
      // keep {}
    }
    return { status: res.status, data };
  }

  async function must(method, path, body, bearer) {
    const r = await call(method, path, body, bearer);
    if (r.status >= 400) throw new Error(r.data.message || `Request failed (${r.status})`);
    return r.data;
  }

  function guard(work) {
    return (ev) => {
      if (ev) ev.preventDefault();
      work().catch((err) => say(err instanceof Error ? err.message : String(err)));
    };
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  async function loadKeys() {
    const r = await call('GET', '/dashboard/api/keys');
    if (r.status === 401) {
      show('step-email');
      return;
    }
    if (r.status >= 400) throw new Error(r.data.message || 'Could not load the keys');
    $('who').textContent = `Signed in as ${r.data.email}`;
    const body = $('keys').querySelector('tbody');
    body.replaceChildren();
    for (const k of r.data.keys) {
      const row = document.createElement('tr');
      cell(row, k.name || '(no name)');
      cell(row, k.hint);
      cell(row, k.scopes.join(', '));
      cell(row, new Date(k.timecreated * 1000).toLocaleString());
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'link';
      revoke.textContent = 'Revoke';
      revoke.dataset.keyid = k.keyid;
      revoke.addEventListener('click', guard(() => revokeKey(k.keyid, k.name)));
      cell(row, '').appendChild(revoke);
      body.appendChild(row);
    }
    $('keys').hidden = r.data.keys.length === 0;
    $('no-keys').hidden = r.data.keys.length !== 0;
    show('step-keys');
  }

  async function revokeKey(keyid, name) {
    if (!window.confirm(`Revoke the key "${name}"? Sites and tools using it stop working at once.`)) return;
    let r = await call('DELETE', `/dashboard/api/keys/${encodeURIComponent(keyid)}`);
    if (r.status === 409) {
      if (!window.confirm('This is the last API key of the account. Revoke it anyway?')) return;
      r = await call('DELETE', `/dashboard/api/keys/${encodeURIComponent(keyid)}?confirm=lastkey`);
    }
    if (r.status >= 400) throw new Error(r.data.message || 'Could not revoke the key');
    await loadKeys();
  }

  $('email-form').addEventListener('submit', guard(async () => {
    email = $('email').value.trim();
    await must('POST', '/signin/code', { email });
    $('sent-to').textContent = email;
    show('step-code');
  }));

  $('code-form').addEventListener('submit', guard(async () => {
    const { token } = await must('POST', '/signin/verify', { email, code: $('code').value.trim() });
    await must('POST', '/signin/session', {}, token);
    await loadKeys();
  }));

  $('key-form').addEventListener('submit', guard(async () => {
    const scopes = [...document.querySelectorAll('#key-form input[name=scope]:checked')].map((i) => i.value);
    const created = await must('POST', '/dashboard/api/keys', { name: $('key-name').value.trim(), scopes });
    await loadKeys();
    $('new-key-value').textContent = created.apikey;
    $('new-key').hidden = false;
  }));

  $('signout').addEventListener('click', guard(async () => {
    await must('POST', '/signout', {});
    $('new-key').hidden = true;
    $('who').textContent = '';
    show('step-email');
  }));

  guard(loadKeys)();
})();
