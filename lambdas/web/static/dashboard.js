/*
 * Behaviour of /dashboard (lambdas/web/dashboard.ts): sign in with an e-mail code, trade the
 * short-lived token for the HttpOnly session cookie, then show the account: plan and usage,
 * backups (details, delete), restores, API keys (list, create, revoke) and the plans.
 * Every value from the server goes into the page with textContent, never as HTML.
 */
/* global document, window */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  if (!$('dash')) return;
  const steps = ['step-email', 'step-code', 'step-dash'];
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

  // The server ends a session when the account is suspended (403) or signed out everywhere (401),
  // and removes the cookie: the page goes back to the sign-in form and says why.
  const GENERIC_401 = 'Please sign in again';
  const NOT_SENT = 'Too many codes were asked for this address: no new one was sent, but the last code mailed to it still works.';
  function signedOut(message) {
    $('new-key').hidden = true;
    $('new-key-value').textContent = '';
    $('who').textContent = '';
    show('step-email');
    if (message && message !== GENERIC_401) say(message);
  }

  async function must(method, path, body, bearer) {
    const r = await call(method, path, body, bearer);
    if (!bearer && (r.status === 401 || r.status === 403) && (path.startsWith('/dashboard/api/') || path.startsWith('/signout'))) {
      signedOut(r.data.message);
      throw new Error(r.data.message && r.data.message !== GENERIC_401 ? r.data.message : 'You are signed out.');
    }
    if (r.status >= 400) throw new Error(r.data.message || `Request failed (${r.status})`);
    return r.data;
  }

  function guard(work) {
    return (ev) => {
      if (ev) ev.preventDefault();
      work().catch((err) => say(err instanceof Error ? err.message : String(err)));
    };
  }

  function cell(row, text, header) {
    const td = document.createElement(header ? 'th' : 'td');
    if (header) td.scope = 'row';
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function fill(tableId, emptyId, items, render) {
    const body = $(tableId).querySelector('tbody');
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement('tr');
      render(row, item);
      body.appendChild(row);
    }
    $(tableId).hidden = items.length === 0;
    if (emptyId) $(emptyId).hidden = items.length !== 0;
  }

  function button(text, label, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'link';
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', guard(onClick));
    return b;
  }

  const when = (t) => (t ? new Date(t * 1000).toLocaleString() : 'never');
  function bytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
  }
  const limit = (v, fmt) => (v === null || v === 0 ? 'unlimited' : fmt ? fmt(v) : String(v));

  async function loadAccount() {
    const r = await call('GET', '/dashboard/api/account');
    if (r.status === 401 || r.status === 403) {
      signedOut(r.data.message);
      return false;
    }
    if (r.status >= 400) throw new Error(r.data.message || 'Could not load the account');
    $('who').textContent = `Signed in as ${r.data.email}`;
    $('account-email').textContent = r.data.email;
    const acct = r.data.account;
    const plan = acct ? acct.plan : r.data.plans[0];
    const usage = acct ? acct.usage : { backups: 0, storedbytes: 0, restoreslast30days: 0 };
    $('plan-label').textContent = plan.label;
    fill('usage', null, [
      ['Stored backups', String(usage.backups), limit(plan.maxstoredbackups)],
      ['Restores in the last 30 days', String(usage.restoreslast30days), limit(plan.restoresper30days)],
      ['Stored data', bytes(usage.storedbytes), 'no limit'],
      ['Size of one backup', '', limit(plan.limit, bytes)],
    ], (row, [name, used, allowed]) => {
      cell(row, name, true);
      cell(row, used);
      cell(row, allowed);
    });
    fill('plans', null, r.data.plans, (row, p) => {
      cell(row, p.id === plan.id ? `${p.label} (yours)` : p.label, true);
      cell(row, limit(p.limit, bytes));
      cell(row, limit(p.maxstoredbackups));
      cell(row, limit(p.restoresper30days));
      cell(row, p.passphrase ? 'yes' : 'no');
    });
    return true;
  }

  async function loadBackups() {
    const { backups } = await must('GET', '/dashboard/api/backups');
    fill('backups', 'no-backups', backups, (row, b) => {
      cell(row, b.siteurl || b.siteid || '(unknown site)', true);
      cell(row, b.description);
      cell(row, b.status);
      cell(row, bytes(b.size));
      cell(row, when(b.timecreated));
      cell(row, when(b.timeexpires));
      cell(row, b.encrypted ? 'yes' : 'no');
      cell(row, b.regionlabel);
      const actions = cell(row, '');
      actions.appendChild(button('Details', `Details of backup ${b.backupkey}`, () => showDetails(b.backupkey)));
      actions.appendChild(document.createTextNode(' '));
      const del = button('Delete', `Delete backup ${b.backupkey}`, () => deleteBackup(b));
      del.dataset.backupkey = b.backupkey;
      del.classList.add('danger');
      actions.appendChild(del);
    });
  }

  async function showDetails(key) {
    const d = await must('GET', `/dashboard/api/backups/${encodeURIComponent(key)}`);
    $('details-key').textContent = d.backupkey;
    fill('details-files', null, d.files, (row, f) => {
      cell(row, f.name, true);
      cell(row, bytes(f.size));
      cell(row, when(f.timecreated));
    });
    fill('details-restores', null, d.restores, (row, x) => {
      cell(row, x.siteurl || '(unknown site)', true);
      cell(row, x.dryrun ? `${x.status} (dry run)` : x.status);
      cell(row, when(x.timecreated));
      cell(row, when(x.timemodified));
    });
    $('backup-details').hidden = false;
    $('backup-details').focus();
  }

  async function deleteBackup(b) {
    if (!window.confirm(`Delete the backup of ${b.siteurl || b.siteid} (${b.description || b.backupkey})? It cannot be restored afterwards.`)) return;
    await must('DELETE', `/dashboard/api/backups/${encodeURIComponent(b.backupkey)}`);
    $('backup-details').hidden = true;
    await Promise.all([loadBackups(), loadAccount()]);
    say('');
    $('h-backups').focus();
  }

  async function loadRestores() {
    const { restores } = await must('GET', '/dashboard/api/restores');
    fill('restores', 'no-restores', restores, (row, x) => {
      cell(row, x.siteurl || '(unknown site)', true);
      cell(row, x.backupkey);
      cell(row, x.dryrun ? `${x.status} (dry run)` : x.status);
      cell(row, when(x.timecreated));
      cell(row, when(x.timemodified));
    });
  }

  async function loadKeys() {
    const { keys } = await must('GET', '/dashboard/api/keys');
    fill('keys', 'no-keys', keys, (row, k) => {
      cell(row, k.name || '(no name)', true);
      cell(row, k.hint);
      cell(row, k.scopes.join(', '));
      cell(row, when(k.timecreated));
      const revoke = button('Revoke', `Revoke key ${k.name || k.hint}`, () => revokeKey(k.keyid, k.name));
      revoke.dataset.keyid = k.keyid;
      cell(row, '').appendChild(revoke);
    });
  }

  async function loadAll() {
    if (!(await loadAccount())) return;
    await Promise.all([loadBackups(), loadRestores(), loadKeys()]);
    show('step-dash');
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
    const { sent } = await must('POST', '/signin/code', { email });
    $('sent-to').textContent = email;
    show('step-code');
    if (sent === false) say(NOT_SENT);
    $('code').focus();
  }));

  $('code-form').addEventListener('submit', guard(async () => {
    const { token } = await must('POST', '/signin/verify', { email, code: $('code').value.trim() });
    await must('POST', '/signin/session', {}, token);
    await loadAll();
  }));

  $('key-form').addEventListener('submit', guard(async () => {
    const scopes = [...document.querySelectorAll('#key-form input[name=scope]:checked')].map((i) => i.value);
    const created = await must('POST', '/dashboard/api/keys', { name: $('key-name').value.trim(), scopes });
    await Promise.all([loadKeys(), loadAccount()]);
    $('new-key-value').textContent = created.apikey;
    $('new-key').hidden = false;
  }));

  $('details-close').addEventListener('click', () => {
    $('backup-details').hidden = true;
    $('h-backups').focus();
  });

  $('signout').addEventListener('click', guard(async () => {
    await must('POST', '/signout', {});
    signedOut('');
    $('email').focus();
  }));

  $('signout-everywhere').addEventListener('click', guard(async () => {
    if (!window.confirm('Sign out everywhere? Every browser signed in to this account, this one included, is signed out at once. API keys keep working.')) return;
    await must('POST', '/signout/everywhere', {});
    signedOut('');
    say('You were signed out everywhere.');
    $('email').focus();
  }));

  guard(loadAll)();
})();
