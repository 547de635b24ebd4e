/**
 * Lease handles of the pull API: opaque to consumers, `<expiry>.<random>`
 * here. The expiry inside lets an ack be told "expired" without any table
 * of past leases; a forged handle holds no event, so it acks nothing.
 */
import { toHex } from "../lib/bytes.js";

const HANDLE = /^([0-9a-z]{1,11})\.[0-9a-f]{24}$/;

/** A WebSocket's lease (docs/feed.md): one for the socket's life, so with no expiry of its own, and never a pull handle. */
const SOCKET = /^ws:[0-9a-f]{24}$/;

export function newSocketLease(): string {
  return `ws:${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
}

/** Whether `handle` could hold deliveries: a pull handle or a socket's lease. */
export function isLease(handle: string): boolean {
  return HANDLE.test(handle) || SOCKET.test(handle);
}

export function newLease(expiresAt: number): string {
  return `${expiresAt.toString(36)}.${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
}

/** The expiry (epoch ms) of a well-formed handle, or null. */
export function leaseExpiry(handle: string): number | null {
  const match = HANDLE.exec(handle);
  return match ? Number.parseInt(match[1]!, 36) : null;
}

export type NotHeldReason = "expired" | "unknown";

/**
 * Why an id was not acked (or released) under `handle`: the lease ran out
 * (another consumer may hold the event now), or the event is not held under
 * it (never pulled with it, already acked, released, or no such event).
 * A socket's lease has no expiry: "unknown" covers both there.
 */
export function notHeldReason(handle: string, now: number): NotHeldReason {
  const expiry = leaseExpiry(handle);
  return expiry !== null && expiry <= now ? "expired" : "unknown";
}
