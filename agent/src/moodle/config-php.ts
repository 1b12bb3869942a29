/**
 * Reads a Moodle `config.php` without running PHP.
 *
 * Only the subset that real config files use is understood: assignments to `$CFG->name`
 * (optionally with `['key']` subscripts), literals (single/double-quoted strings, numbers,
 * booleans, null), `array(...)` / `[...]` (nested), string concatenation with `.`, and the
 * path helpers `__DIR__` / `dirname(__FILE__)`. Everything else (includes, `require_once`,
 * `global`, `unset`, conditionals' bodies) is skipped statement by statement, because the agent
 * must never execute site code and the values it needs are plain literals in practice.
 */
import { dirname } from 'node:path';

/** A PHP value as far as config.php needs: scalars and ordered arrays (maps). */
export type PhpValue = string | number | boolean | null | PhpArray;
/** PHP array; list arrays get keys "0", "1", … like PHP. */
export interface PhpArray {
  readonly kind: 'array';
  readonly entries: Map<string, PhpValue>;
}

/** Error raised for a config.php the reader cannot make sense of. */
export class ConfigPhpError extends Error {
  readonly code = 'ERR_CONFIG_PHP';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigPhpError';
  }
}

type Token =
  | { t: 'var'; v: string }
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'op'; v: string }
  | { t: 'eof' };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  // Skip everything before the opening tag, and stop at a closing tag.
  const open = src.indexOf('<?php');
  if (open >= 0) i = open + 5;
  const n = src.length;
  while (i < n) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('?>', i)) break;
    if (c === '#' || src.startsWith('//', i)) {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === '$') {
      const m = /^\$[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 200));
      if (!m) throw new ConfigPhpError(`unexpected '$' at offset ${i}`);
      out.push({ t: 'var', v: m[0].slice(1) });
      i += m[0].length;
      continue;
    }
    if (c === "'") {
      let s = '';
      i++;
      while (i < n && src[i] !== "'") {
        if (src[i] === '\\' && (src[i + 1] === "'" || src[i + 1] === '\\')) { s += src[i + 1]; i += 2; continue; }
        s += src[i]; i++;
      }
      i++;
      out.push({ t: 'str', v: s });
      continue;
    }
    if (c === '"') {
      let s = '';
      i++;
      while (i < n && src[i] !== '"') {
        if (src[i] === '\\') {
          const e = src[i + 1] ?? '';
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', e: '\x1b', '0': '\0', '\\': '\\', '"': '"', $: '$' };
          if (e in map) { s += map[e]; i += 2; continue; }
          s += '\\'; i++;
          continue;
        }
        s += src[i]; i++;
      }
      i++;
      out.push({ t: 'str', v: s });
      continue;
    }
    const num = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)/.exec(src.slice(i, i + 64));
    if (num) {
      // PHP reads a leading-zero integer as octal (e.g. directorypermissions = 02777).
      const text = num[0];
      out.push({ t: 'num', v: /^0[0-7]+$/.test(text) ? parseInt(text, 8) : Number(text) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_\\][A-Za-z0-9_\\]*/.exec(src.slice(i, i + 200));
    if (id) {
      out.push({ t: 'ident', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = ['=>', '->', '::', '.=', '==', '!=', '&&', '||'].find((o) => src.startsWith(o, i)) ?? c;
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  out.push({ t: 'eof' });
  return out;
}

/** Result of parsing config.php: `$CFG` properties in assignment order. */
export interface ParsedConfigPhp {
  cfg: Map<string, PhpValue>;
  /** Statements that were skipped (include/require, conditionals, …), for the check report. */
  skipped: string[];
}

class Parser {
  private p = 0;
  readonly cfg = new Map<string, PhpValue>();
  readonly skipped: string[] = [];
  constructor(private readonly toks: Token[], private readonly file: string) {}

  private peek(o = 0): Token { return this.toks[this.p + o] ?? { t: 'eof' }; }
  private next(): Token { const t = this.peek(); this.p++; return t; }
  private isOp(v: string, o = 0): boolean { const t = this.peek(o); return t.t === 'op' && t.v === v; }
  private expectOp(v: string): void {
    const t = this.next();
    if (t.t !== 'op' || t.v !== v) throw new ConfigPhpError(`expected '${v}' but found ${describe(t)}`);
  }

  run(): void {
    while (this.peek().t !== 'eof') {
      const start = this.p;
      try {
        if (this.tryAssignment()) continue;
      } catch (err) {
        if (!(err instanceof ConfigPhpError)) throw err;
        // An expression we do not understand: skip the statement rather than fail the whole file.
      }
      this.p = start;
      this.skipStatement();
    }
  }

  /** `$CFG->name[...]... = expr;` or `.=`; returns false when the statement is something else. */
  private tryAssignment(): boolean {
    const v = this.peek();
    if (v.t !== 'var' || v.v !== 'CFG' || !this.isOp('->', 1)) return false;
    this.p += 2;
    const name = this.next();
    if (name.t !== 'ident') return false;
    const path: string[] = [];
    while (this.isOp('[')) {
      this.next();
      const k = this.expr();
      this.expectOp(']');
      path.push(keyOf(k));
    }
    const op = this.next();
    if (op.t !== 'op' || (op.v !== '=' && op.v !== '.=')) return false;
    const value = this.expr();
    if (!this.isOp(';') && this.peek().t !== 'eof') return false;
    this.next();
    this.assign(name.v, path, value, op.v === '.=');
    return true;
  }

  private assign(name: string, path: string[], value: PhpValue, append: boolean): void {
    if (path.length === 0) {
      const old = this.cfg.get(name);
      this.cfg.set(name, append ? toStr(old ?? '') + toStr(value) : value);
      return;
    }
    let cur = this.cfg.get(name);
    if (!isArray(cur)) { cur = { kind: 'array', entries: new Map() }; this.cfg.set(name, cur); }
    let node: PhpArray = cur;
    for (const k of path.slice(0, -1)) {
      let child = node.entries.get(k);
      if (!isArray(child)) { child = { kind: 'array', entries: new Map() }; node.entries.set(k, child); }
      node = child;
    }
    const last = path[path.length - 1] as string;
    node.entries.set(last, append ? toStr(node.entries.get(last) ?? '') + toStr(value) : value);
  }

  private skipStatement(): void {
    const from = this.p;
    let depth = 0;
    for (;;) {
      const t = this.next();
      if (t.t === 'eof') break;
      if (t.t === 'op' && (t.v === '(' || t.v === '[' || t.v === '{')) depth++;
      if (t.t === 'op' && (t.v === ')' || t.v === ']' || t.v === '}')) {
        depth--;
        // A closing brace of a block ends the skipped statement (e.g. `if (...) { ... }`).
        if (depth <= 0 && t.v === '}') break;
      }
      if (depth <= 0 && t.t === 'op' && t.v === ';') break;
    }
    const text = this.toks.slice(from, this.p).map(tokText).join(' ');
    if (text.trim()) this.skipped.push(text.length > 120 ? `${text.slice(0, 117)}...` : text);
  }

  private expr(): PhpValue {
    let left = this.unary();
    while (this.isOp('.')) {
      this.next();
      left = toStr(left) + toStr(this.unary());
    }
    return left;
  }

  private unary(): PhpValue {
    if (this.isOp('-')) { this.next(); const v = this.unary(); if (typeof v !== 'number') throw new ConfigPhpError('minus on non-number'); return -v; }
    if (this.isOp('(')) { this.next(); const v = this.expr(); this.expectOp(')'); return v; }
    return this.primary();
  }

  private primary(): PhpValue {
    const t = this.next();
    switch (t.t) {
      case 'str': return t.v;
      case 'num': return t.v;
      case 'op':
        if (t.v === '[') return this.arrayBody(']');
        throw new ConfigPhpError(`unexpected ${describe(t)}`);
      case 'ident': {
        const lower = t.v.toLowerCase();
        if (lower === 'true') return true;
        if (lower === 'false') return false;
        if (lower === 'null') return null;
        if (lower === '__dir__') return dirname(this.file);
        if (lower === '__file__') return this.file;
        if (lower === 'array' && this.isOp('(')) { this.next(); return this.arrayBody(')'); }
        if (lower === 'dirname' && this.isOp('(')) {
          this.next();
          const arg = this.expr();
          let levels = 1;
          if (this.isOp(',')) { this.next(); const l = this.expr(); if (typeof l === 'number') levels = l; }
          this.expectOp(')');
          let d = toStr(arg);
          for (let i = 0; i < levels; i++) d = dirname(d);
          return d;
        }
        if (t.v.includes('\\') || /^[A-Z_][A-Z0-9_]*$/.test(t.v)) {
          // A class/constant we cannot evaluate (e.g. `\core\session\redis::class`); refuse the statement.
          throw new ConfigPhpError(`cannot evaluate constant ${t.v}`);
        }
        throw new ConfigPhpError(`cannot evaluate ${t.v}`);
      }
      default:
        throw new ConfigPhpError(`unexpected ${describe(t)}`);
    }
  }

  private arrayBody(close: ')' | ']'): PhpArray {
    const entries = new Map<string, PhpValue>();
    let nextIndex = 0;
    while (!this.isOp(close)) {
      const first = this.expr();
      if (this.isOp('=>')) {
        this.next();
        const value = this.expr();
        const key = keyOf(first);
        entries.set(key, value);
        if (/^\d+$/.test(key)) nextIndex = Math.max(nextIndex, Number(key) + 1);
      } else {
        entries.set(String(nextIndex++), first);
      }
      if (this.isOp(',')) this.next();
      else if (!this.isOp(close)) throw new ConfigPhpError(`expected ',' or '${close}' in array`);
    }
    this.next();
    return { kind: 'array', entries };
  }
}

function keyOf(v: PhpValue): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  throw new ConfigPhpError('array key must be a string or number');
}

function describe(t: Token): string {
  return t.t === 'eof' ? 'end of file' : `'${tokText(t)}'`;
}

function tokText(t: Token): string {
  switch (t.t) {
    case 'var': return `$${t.v}`;
    case 'str': return JSON.stringify(t.v);
    case 'num': return String(t.v);
    case 'eof': return '';
    default: return t.v;
  }
}

/** True when the value is a PHP array. */
export function isArray(v: PhpValue | undefined): v is PhpArray {
  return typeof v === 'object' && v !== null && v.kind === 'array';
}

/** PHP's string conversion for scalars (`true` → "1", `false`/null → "", arrays → "Array"). */
export function toStr(v: PhpValue): string {
  if (v === null || v === false) return '';
  if (v === true) return '1';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return 'Array';
}

/** Converts a PHP value to plain JSON-like data (arrays become objects keyed like PHP). */
export function toPlain(v: PhpValue): unknown {
  if (!isArray(v)) return v;
  const o: Record<string, unknown> = {};
  for (const [k, val] of v.entries) o[k] = toPlain(val);
  return o;
}

/**
 * Parses config.php source. `file` is the path used for `__DIR__`/`__FILE__`.
 * Never executes anything; statements it does not understand are listed in `skipped`.
 */
export function parseConfigPhp(source: string, file = '/var/www/moodle/config.php'): ParsedConfigPhp {
  const parser = new Parser(tokenize(source), file);
  parser.run();
  return { cfg: parser.cfg, skipped: parser.skipped };
}
