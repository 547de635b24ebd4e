// keygen: fresh credentials for one app and its WECOM_APPS entry.
import { randomBytes, randomInt } from 'node:crypto';
import { parseOptions, UsageError } from './cli.mjs';

export const KEYGEN_HELP = `Usage: wecom-edge keygen [--app NAME] [--receive-id ID] [--webhook URL | --pull] [--json]

Generates a new callback Token, EncodingAESKey and the intranet-side secret,
and prints the WECOM_APPS entry that uses them.

Options:
  --app NAME         the app's name in WECOM_APPS and in /callback/NAME
                     (lowercase letters, digits, '_' and '-', 1-64; default "app")
  --receive-id ID    the receiveId the app accepts: your corpid (ww…), a suite id,
                     "" for an AI bot, or "*" (default: a placeholder to replace)
  --webhook URL      deliver events by POSTing them to URL (http or https), signed
                     with a new whsec_ secret
  --pull             deliver events through the pull API, with a new pull token
                     (the default when neither is given)
  --json             print only the JSON object, for scripts
  -h, --help         show this help

All values come from node:crypto's CSPRNG. Example:
  npx wecom-edge keygen --app hr --receive-id ww3e40cde07cc21a01 --webhook https://hr.example.com/wecom
`;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const APP_NAME = /^[a-z0-9_-]{1,64}$/;
const RECEIVE_ID_PLACEHOLDER = 'YOUR_CORP_ID';

/** n characters of [A-Za-z0-9], each uniform (crypto.randomInt rejects biased draws). */
export function randomAlnum(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

export function keygen(argv, out) {
  const o = parseOptions('keygen', argv, {
    app: { type: 'string' },
    'receive-id': { type: 'string' },
    webhook: { type: 'string' },
    pull: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (o.help) {
    out.stdout(KEYGEN_HELP);
    return 0;
  }
  const app = o.app ?? 'app';
  if (!APP_NAME.test(app)) {
    throw new UsageError(`invalid app name ${JSON.stringify(app)}: use 1-64 lowercase letters, digits, '_' or '-'`, 'keygen');
  }
  if (o.webhook !== undefined && o.pull) throw new UsageError('--webhook and --pull cannot be used together', 'keygen');
  if (o.webhook !== undefined) {
    let url;
    try {
      url = new URL(o.webhook);
    } catch {
      throw new UsageError(`invalid --webhook URL ${JSON.stringify(o.webhook)}: give an absolute http(s) URL`, 'keygen');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`invalid --webhook URL ${JSON.stringify(o.webhook)}: it must be http or https`, 'keygen');
    }
  }
  const receiveId = o['receive-id'] ?? RECEIVE_ID_PLACEHOLDER;

  const token = randomAlnum(32);
  const encodingAESKey = randomAlnum(43);
  const entry = { token, encodingAESKey, receiveId };
  let secretLine;
  if (o.webhook !== undefined) {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    entry.webhook = { url: o.webhook, secret };
    secretLine = `Webhook secret:  ${secret}   (give it to the receiver at ${o.webhook} to verify webhook-signature)`;
  } else {
    const pullToken = randomBytes(32).toString('hex');
    entry.pull = { token: pullToken };
    secretLine = `Pull token:      ${pullToken}   (the Bearer token of POST /queue/${app}/pull, /ack, /nack)`;
  }
  const json = JSON.stringify({ [app]: entry });

  if (o['receive-id'] === undefined) {
    out.stderr(`warning: no --receive-id: replace "${RECEIVE_ID_PLACEHOLDER}" with your corpid (我的企业 → 企业信息 → 企业ID), a suite id, "" for an AI bot, or "*"\n`);
  }
  if (o.json) {
    out.stdout(json + '\n');
    return 0;
  }
  out.stdout(
    [
      `Token:           ${token}`,
      `EncodingAESKey:  ${encodingAESKey}`,
      secretLine,
      '',
      'WECOM_APPS entry (merge it with your other apps: the secret holds them all):',
      json,
      '',
      `  npx wrangler secret put WECOM_APPS     # paste the whole WECOM_APPS object when asked`,
      '',
      `Paste the Token and EncodingAESKey into WeCom's admin console (the app's 接收消息 → 设置API接收), with the URL https://<your worker>/callback/${app}.`,
      '',
    ].join('\n'),
  );
  return 0;
}
