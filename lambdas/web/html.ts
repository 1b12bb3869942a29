/** HTML helpers of the web pages: escaping and the page frame (system fonts, one style sheet, no inline script). */

/** HTML-escapes text for element content and double-quoted attributes. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A whole page: `body` is trusted HTML (escape every value in it); `script` a file under /web/. */
export function layout(title: string, body: string, script?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="stylesheet" href="/web/style.css">
${script ? `<script src="/web/${esc(script)}" defer></script>\n` : ''}</head>
<body>
${body}
</body>
</html>
`;
}
