/** Reading a body without trusting its size. */
import { concatBytes } from "./bytes.js";

/**
 * All of `body`, or null as soon as it passes `limit` bytes (the rest is
 * cancelled). A stream that breaks mid-way throws what its reader threw.
 */
export async function readWithin(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return concatBytes(...chunks);
    size += chunk.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk.value);
  }
}
