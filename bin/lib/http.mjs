// One HTTP exchange with the gateway, timed, over the global fetch; network failures in plain words.
import { oneLine } from './terminal.mjs';

export class NetworkError extends Error {
  /** `unreachable`: no connection at all (refused, no such host, TLS); `timeout`: no answer in time; `answer`: an answer that is a failure. */
  constructor(message, kind = 'unreachable') {
    super(message);
    this.name = 'NetworkError';
    this.kind = kind;
  }
}

/**
 * Sends a request and reads the whole answer as text.
 * Returns { status, headers, text, ms }; throws a NetworkError when there is no answer.
 */
export async function exchange(url, { method = 'GET', body, headers, timeoutMs = 5000, signal } = {}) {
  const started = performance.now();
  const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
  try {
    const response = await fetch(url, { method, body, headers, redirect: 'manual', signal: AbortSignal.any(signals) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, ms: performance.now() - started };
  } catch (error) {
    throw new NetworkError(describeFailure(error, url, timeoutMs, signal), error?.name === 'TimeoutError' ? 'timeout' : 'unreachable');
  }
}

function describeFailure(error, url, timeoutMs, signal) {
  const { origin } = new URL(url);
  if (signal?.aborted) return 'stopped';
  if (error?.name === 'TimeoutError') return `no answer from ${origin} within ${timeoutMs} ms`;
  const cause = error?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  const reasons = {
    ECONNREFUSED: 'the connection was refused (nothing listens there)',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'the host name does not resolve (DNS is not answering)',
    ECONNRESET: 'the connection was reset',
    ETIMEDOUT: 'the connection timed out',
    EHOSTUNREACH: 'the host is unreachable',
    ENETUNREACH: 'the network is unreachable',
    CERT_HAS_EXPIRED: 'its TLS certificate has expired',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
    ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
  };
  const reason = reasons[code] ?? cause?.message ?? error?.message ?? String(error);
  return `cannot reach ${origin}: ${reason}${code && reasons[code] ? ` (${code})` : ''}`;
}

/** The gateway's refusal `{"error": {"code", "message"}}`, or undefined. */
export function refusalOf(text) {
  try {
    const parsed = JSON.parse(text);
    const error = parsed?.error;
    if (error && (typeof error.code === 'string' || typeof error.code === 'number')) return { code: error.code, message: String(error.message ?? '') };
  } catch {}
  return undefined;
}

/**
 * Where to look when the gateway answers 503 invalid_config or not_configured
 * (its configuration is at fault, not the request): the lines to print, the
 * first one the finding; undefined for any other answer. The gateway never
 * names the broken field to a caller; its admin API, admin page and log do
 * (docs/configuration.md, "How mistakes are answered").
 */
export function configHint(base, status, refusal) {
  if (status !== 503 || (refusal?.code !== 'invalid_config' && refusal?.code !== 'not_configured')) return undefined;
  const app = refusal.code === 'invalid_config' ? /^app "([a-z0-9_-]{1,64})" is misconfigured$/.exec(refusal.message)?.[1] : undefined;
  return [
    app !== undefined
      ? `the gateway says app "${app}" is misconfigured (503 invalid_config).`
      : `the gateway cannot load its configuration (503 ${refusal.code}: ${oneLine(refusal.message)}).`,
    app !== undefined
      ? `  The field at fault is named in GET ${base}/admin/apps ("invalidApps"), on the admin page at ${base}/admin,`
      : `  Why is said in GET ${base}/admin/apps ("configError"), on the admin page at ${base}/admin,`,
    "  and in wrangler's log (the output of wrangler dev, or npx wrangler tail).",
    '  Run `npx wecom-edge check-config` locally: it checks wecom-edge.config.json and the secrets it names.',
  ];
}
