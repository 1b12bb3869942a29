/**
 * Reads a Moodle `config.php` without running PHP.
 *
 * Only the subset that real config files use is understood: assignments to `$CFG->name`
 * (optionally with `['key']` subscripts), literals (single/double-quoted strings, numbers,
 * booleans, null), `array(...)` / `[...]` (nested), string concatenation with `.`, the path
 * helpers `__DIR__` / `dirname(__FILE__)`, and what container images use: `getenv('NAME')`,
 * `$_ENV['NAME']` / `$_SERVER['NAME']` (read from the agent's environment), `?:` / `??`
 * defaults, `define('NAME', literal)` constants and plain local variables (`$x = ...;`).
 * Everything else (includes, `require_once`, `global`, `unset`, conditionals' bodies) is skipped
 * statement by statement, because the agent must never execute site code. An assignment to
 * `$CFG` that cannot be evaluated, or that sits inside a skipped block, is reported with its line
 * (`issues`) so the caller can name it and the flag that overrides it.
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

type Token = (
  | { t: 'var'; v: string }
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'op'; v: string }
  | { t: 'eof' }
) & { line?: number };

/** Line number (1-based) of every offset, by binary search over the newline positions. */
function lineIndex(src: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < src.length; i++) if (src[i] === '\n') starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  };
}

function tokenize(src: string): Token[] {
  const lineOf = lineIndex(src);
  const tokens: Token[] = [];
  let tokStart = 0;
  const out = { push: (t: Token): void => { tokens.push({ ...t, line: lineOf(tokStart) }); } };
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
    tokStart = i;
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
    const op = ['===', '!==', '??', '?:', '=>', '->', '::', '.=', '==', '!=', '&&', '||'].find((o) => src.startsWith(o, i)) ?? c;
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  tokStart = n;
  out.push({ t: 'eof' });
  return tokens;
}

/** A `$CFG` value config.php sets in a way the reader cannot know. */
export interface ConfigPhpIssue {
  /** `$CFG` property and array keys, e.g. `['dboptions', 'dbport']`. */
  path: string[];
  line: number;
  /** Why: the construct that could not be evaluated, or that the assignment is conditional. */
  reason: string;
  /** The assignment is inside a skipped block (`if`, …): it may or may not run. */
  conditional: boolean;
}

/** Result of parsing config.php: `$CFG` properties in assignment order. */
export interface ParsedConfigPhp {
  cfg: Map<string, PhpValue>;
  /** Statements that were skipped (include/require, conditionals, …), for the check report. */
  skipped: string[];
  /** Values left unknown, latest assignment per path (a later readable assignment clears them). */
  issues: ConfigPhpIssue[];
  /** Environment variables whose values were taken from the agent's environment, in first-read order. */
  environment: string[];
}

/** Environment lookups for `getenv()` / `$_ENV` / `$_SERVER`. */
export type ConfigPhpEnv = Record<string, string | undefined>;

const samePrefix = (a: string[], b: string[]): boolean => a.length <= b.length && a.every((k, i) => b[i] === k);

class Parser {
  private p = 0;
  readonly cfg = new Map<string, PhpValue>();
  readonly skipped: string[] = [];
  readonly issues: ConfigPhpIssue[] = [];
  private readonly consts = new Map<string, PhpValue>();
  private readonly vars = new Map<string, PhpValue>();
  /** Environment lookups (as written) of the current expression whose variable was not set. */
  private misses: string[] = [];
  /** Variables answered from the agent's environment (see ParsedConfigPhp.environment). */
  readonly envRead = new Set<string>();
  /** Array elements of the current statement that could not be evaluated (relative key paths). */
  private elementIssues: { path: string[]; line: number; reason: string }[] = [];
  private keyStack: string[] = [];
  constructor(private readonly toks: Token[], private readonly file: string, private readonly env: ConfigPhpEnv) {}

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
      let target: { path: string[]; line: number } | null = null;
      try {
        target = this.cfgTarget();
        this.p = start;
        if (this.tryAssignment() || this.tryDefine() || this.tryVariable()) continue;
      } catch (err) {
        if (!(err instanceof ConfigPhpError)) throw err;
        // An expression we do not understand: the statement is skipped, and a $CFG target noted.
        if (target) this.unknown(target.path, target.line, err.message);
      }
      this.p = start;
      this.skipStatement();
    }
  }

  /** The `$CFG->name[...]` a statement starting here assigns, when its keys are literals. */
  private cfgTarget(): { path: string[]; line: number } | null {
    const v = this.peek();
    if (v.t !== 'var' || v.v !== 'CFG' || !this.isOp('->', 1)) return null;
    const name = this.peek(2);
    if (name.t !== 'ident') return null;
    const path = [name.v];
    let o = 3;
    while (this.isOp('[', o)) {
      const k = this.peek(o + 1);
      if ((k.t !== 'str' && k.t !== 'num') || !this.isOp(']', o + 2)) break;
      path.push(String(k.v));
      o += 3;
    }
    return { path, line: v.line ?? 0 };
  }

  /** Records that `path` has an unknown value from `line` on (the value read so far is dropped). */
  private unknown(path: string[], line: number, reason: string, conditional = false): void {
    if (!conditional) this.drop(path);
    this.issues.push({ path, line, reason, conditional });
  }

  private drop(path: string[]): void {
    const [name, ...keys] = path as [string, ...string[]];
    if (keys.length === 0) { this.cfg.delete(name); return; }
    let node = this.cfg.get(name);
    for (const k of keys.slice(0, -1)) node = isArray(node) ? node.entries.get(k) : undefined;
    if (isArray(node)) node.entries.delete(keys[keys.length - 1] as string);
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
    this.misses = [];
    this.elementIssues = [];
    this.keyStack = [];
    const value = this.expr();
    // An operator the reader does not evaluate (`+`, `|`, a call on the value, …).
    if (!this.isOp(';') && this.peek().t !== 'eof') throw new ConfigPhpError(`cannot evaluate ${describe(this.peek())} in the value`);
    this.next();
    const full = [name.v, ...path];
    if (this.misses.length) {
      // PHP would store false: for a database setting that is never what the site runs with.
      throw new ConfigPhpError(`${this.misses.join(', ')} is not set in this environment`);
    }
    // A readable assignment replaces whatever earlier statements left unknown under this path.
    for (let i = this.issues.length - 1; i >= 0; i--) if (samePrefix(full, (this.issues[i] as ConfigPhpIssue).path) && !op.v.startsWith('.')) this.issues.splice(i, 1);
    this.assign(name.v, path, value, op.v === '.=');
    for (const e of this.elementIssues) this.issues.push({ path: [...full, ...e.path], line: e.line, reason: e.reason, conditional: false });
    return true;
  }

  /** `define('NAME', expr);` — a constant later statements may use. */
  private tryDefine(): boolean {
    const t = this.peek();
    if (t.t !== 'ident' || t.v.toLowerCase() !== 'define' || !this.isOp('(', 1)) return false;
    this.p += 2;
    const name = this.expr();
    this.expectOp(',');
    this.misses = [];
    const value = this.expr();
    this.expectOp(')');
    if (!this.isOp(';')) return false;
    this.next();
    if (typeof name === 'string' && !this.misses.length) this.consts.set(name, value);
    return true;
  }

  /** `$name = expr;` — a local variable later `$CFG` assignments may use. */
  private tryVariable(): boolean {
    const t = this.peek();
    if (t.t !== 'var' || t.v === 'CFG' || !this.isOp('=', 1)) return false;
    this.p += 2;
    this.misses = [];
    let value: PhpValue | undefined;
    try {
      value = this.expr();
    } catch (err) {
      if (!(err instanceof ConfigPhpError)) throw err;
      this.vars.delete(t.v);
      return false;
    }
    if (!this.isOp(';')) return false;
    this.next();
    if (this.misses.length) this.vars.delete(t.v); else this.vars.set(t.v, value);
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
    const toks = this.toks.slice(from, this.p);
    const text = toks.map(tokText).join(' ');
    if (text.trim()) this.skipped.push(text.length > 120 ? `${text.slice(0, 117)}...` : text);
    // `$CFG->x[...] =` inside a skipped block (if/else, switch, function): it may or may not run.
    const head = toks[0];
    const isBlock = head?.t === 'ident' && /^(if|else|elseif|switch|foreach|for|while|function|try)$/i.test(head.v);
    for (let i = 0; i < toks.length; i++) {
      const a = toks[i];
      const b = toks[i + 1];
      const c = toks[i + 2];
      if (a?.t !== 'var' || a.v !== 'CFG' || b?.t !== 'op' || b.v !== '->' || c?.t !== 'ident') continue;
      const path = [c.v];
      let j = i + 3;
      while (toks[j]?.t === 'op' && (toks[j] as { v: string }).v === '[') {
        const k = toks[j + 1];
        if (!k || (k.t !== 'str' && k.t !== 'num') || toks[j + 2]?.t !== 'op') break;
        path.push(String(k.v));
        j += 3;
      }
      const op = toks[j];
      if (op?.t === 'op' && (op.v === '=' || op.v === '.=')) {
        if (isBlock) this.unknown(path, a.line ?? 0, `assigned inside '${head.v}' (not evaluated)`, true);
        else if (i > 0) this.unknown(path, a.line ?? 0, `inside a statement the reader skips: ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`);
      }
    }
  }

  private expr(): PhpValue {
    const before = this.misses.length;
    let left = this.concat();
    for (;;) {
      if (this.isOp('?:')) {
        this.next();
        const right = this.concat();
        // `getenv('X') ?: 'default'`: an unset variable is handled here, not a problem.
        if (!truthy(left)) { this.misses.length = before; left = right; }
        continue;
      }
      if (this.isOp('??')) {
        this.next();
        const right = this.concat();
        if (left === null) { this.misses.length = before; left = right; }
        continue;
      }
      if (this.isOp('?')) throw new ConfigPhpError('cannot evaluate a ?: condition');
      return left;
    }
  }

  private concat(): PhpValue {
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
      case 'var': {
        if ((t.v === '_ENV' || t.v === '_SERVER') && this.isOp('[')) {
          this.next();
          const k = toStr(this.expr());
          this.expectOp(']');
          const v = this.env[k];
          // Unset: PHP yields null (with a warning); `?? 'default'` handles it like PHP does.
          if (v === undefined) { this.misses.push(`$${t.v}['${k}']`); return null; }
          this.envRead.add(k);
          return v;
        }
        if (t.v === 'CFG' && this.isOp('->') && this.peek(1).t === 'ident') {
          // `$CFG->tempdir = $CFG->dataroot . '/temp';` reads what an earlier statement set.
          this.next();
          const name = (this.next() as { v: string }).v;
          let cur = this.cfg.get(name);
          while (this.isOp('[')) {
            this.next();
            const k = keyOf(this.expr());
            this.expectOp(']');
            cur = isArray(cur) ? cur.entries.get(k) : undefined;
          }
          if (cur === undefined) throw new ConfigPhpError(`$CFG->${name} is not known at this point`);
          return cur;
        }
        const v = this.vars.get(t.v);
        if (v === undefined) throw new ConfigPhpError(`cannot evaluate variable $${t.v}`);
        return v;
      }
      case 'ident': {
        const lower = t.v.toLowerCase();
        if (lower === 'true') return true;
        if (lower === 'false') return false;
        if (lower === 'null') return null;
        if (lower === '__dir__') return dirname(this.file);
        if (lower === '__file__') return this.file;
        if (lower === 'array' && this.isOp('(')) { this.next(); return this.arrayBody(')'); }
        if (lower === 'getenv' && this.isOp('(')) {
          this.next();
          const k = toStr(this.expr());
          if (this.isOp(',')) { this.next(); this.expr(); }
          this.expectOp(')');
          const v = this.env[k];
          if (v === undefined) { this.misses.push(`getenv('${k}')`); return false; }
          this.envRead.add(k);
          return v;
        }
        const constant = this.consts.get(t.v);
        if (constant !== undefined) return constant;
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
        const key = keyOf(first);
        const line = this.peek().line ?? 0;
        const misses = this.misses.length;
        this.keyStack.push(key);
        try {
          const value = this.expr();
          if (this.misses.length > misses) throw new ConfigPhpError(`${this.misses.slice(misses).join(', ')} is not set in this environment`);
          entries.set(key, value);
        } catch (err) {
          if (!(err instanceof ConfigPhpError)) throw err;
          // One unreadable element (e.g. a constant) must not lose its readable siblings.
          this.misses.length = misses;
          this.elementIssues.push({ path: [...this.keyStack], line, reason: err.message });
          this.skipElement(close);
        } finally {
          this.keyStack.pop();
        }
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

  /** Skips to the `,` or closing bracket that ends the current array element. */
  private skipElement(close: ')' | ']'): void {
    let depth = 0;
    for (;;) {
      const t = this.peek();
      if (t.t === 'eof') throw new ConfigPhpError('unterminated array');
      if (t.t === 'op') {
        if (depth === 0 && (t.v === ',' || t.v === close)) return;
        if (t.v === '(' || t.v === '[') depth++;
        if (t.v === ')' || t.v === ']') depth--;
      }
      this.next();
    }
  }
}

/** PHP truthiness of a scalar or array. */
function truthy(v: PhpValue): boolean {
  if (isArray(v)) return v.entries.size > 0;
  return !(v === null || v === false || v === 0 || v === '' || v === '0');
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
 * Parses config.php source. `file` is the path used for `__DIR__`/`__FILE__`, `env` answers
 * `getenv()` (default: none set). Never executes anything; statements it does not understand
 * are listed in `skipped`, `$CFG` values it cannot know in `issues`.
 */
export function parseConfigPhp(source: string, file = '/var/www/moodle/config.php', env: ConfigPhpEnv = {}): ParsedConfigPhp {
  const parser = new Parser(tokenize(source), file, env);
  parser.run();
  return { cfg: parser.cfg, skipped: parser.skipped, issues: parser.issues, environment: [...parser.envRead] };
}
