/** Large request bodies shared by the envelope tests (a module, not a test file). */

export const MiB = 1024 * 1024;

/** `head`, then `unit` repeated, then `tail`: at most `length` characters. */
export function filled(head: string, unit: string, tail: string, length = MiB): string {
  const n = Math.floor((length - head.length - tail.length) / unit.length);
  return head + unit.repeat(n) + tail;
}

/** About 1 MiB of XML envelope: ~130k elements around one Encrypt. */
export const manyElements = (encrypt: string): string => filled(`<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt>`, "<a/>", "</xml>");
