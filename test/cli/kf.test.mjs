// 微信客服 (docs/kf.md) with callbacks sealed by the independent node:crypto
// implementation (bin/lib/wecom-side.mjs), against the gateway in workerd:
// the newest Token kept, the cursor's compare-and-set, coalescing, and a
// malformed callback refused with nothing kept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sealCallback } from '../../bin/lib/wecom-side.mjs';
import { startGateway } from '../support/gateway.mjs';

const CORP_ID = 'ww3e40cde07cc21a01';
const APP = { token: 'kR7tQ2pZ9wXy', encodingAESKey: 'RbSCtD0MnaZDhN0XnWfLE4RemCSlsi9YgSzN8xg0VRc', receiveId: CORP_ID };
const KF_TOKEN = 'kf-token-for-the-cli-tests-0123456789ab';
const PULL_TOKEN = 'kf-pull-token-for-the-cli-tests-012345';
const KF = 'wkCLIAAAAAAAAAAAAAAAAAAAAAAAAA';

const kfXml = (token, createTime) =>
  `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><CreateTime>${createTime}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[${token}]]></Token><OpenKfId><![CDATA[${KF}]]></OpenKfId></xml>`;

describe('微信客服 against the gateway in workerd', { timeout: 180_000 }, () => {
  let gateway;
  const send = async (xml) => {
    const sealed = sealCallback(`${gateway.url}/callback/service`, APP, xml, { format: 'xml' });
    return fetch(sealed.url, { method: 'POST', body: sealed.body });
  };
  const api = (path, init = {}) => fetch(`${gateway.url}/kf/service/${path}`, { ...init, headers: { authorization: `Bearer ${KF_TOKEN}` } });

  before(async () => {
    gateway = await startGateway({ apps: { service: { ...APP, kf: { token: KF_TOKEN }, pull: { token: PULL_TOKEN } } }, adminToken: 'admin-token-for-the-kf-cli-tests-0123' });
  });
  after(async () => {
    await gateway?.stop();
  });

  test('three callbacks: one event standing for three, with the newest Token; the Token and cursor served', async () => {
    const answers = [];
    for (const [token, time] of [['ENC-1', 1765000001], ['ENC-2', 1765000002], ['ENC-3', 1765000003]]) {
      const response = await send(kfXml(token, time));
      answers.push([response.status, await response.text(), response.headers.get('wecom-edge-coalesced')]);
    }
    assert.deepEqual(answers, [[200, 'success', null], [200, 'success', '2'], [200, 'success', '3']]);
    const pulled = await (await fetch(`${gateway.url}/queue/service/pull`, { method: 'POST', headers: { authorization: `Bearer ${PULL_TOKEN}` }, body: '{"max": 10}' })).json();
    assert.equal(pulled.events.length, 1);
    assert.equal(pulled.events[0].event.Token, 'ENC-3');
    assert.equal(pulled.events[0].coalesced, 3);

    const account = await (await api(KF)).json();
    assert.deepEqual([account.token, account.cursor], ['ENC-3', null]);
    const set = await api(`${KF}/cursor`, { method: 'PUT', body: JSON.stringify({ cursor: 'c-1', expected: null }) });
    assert.deepEqual([set.status, await set.json()], [200, { cursor: 'c-1' }]);
    const stale = await api(`${KF}/cursor`, { method: 'PUT', body: JSON.stringify({ cursor: 'c-2', expected: null }) });
    assert.deepEqual([stale.status, (await stale.json()).cursor], [409, 'c-1']);
  });

  test('a kf_msg_or_event without its Token is refused, and nothing is kept', async () => {
    const response = await send(kfXml('x', 1765000009).replace('<Token><![CDATA[x]]></Token>', ''));
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { error: { code: 'invalid_parameter', message: 'a kf_msg_or_event callback must carry its Token (1-1024 characters)' } });
    assert.equal((await (await api(KF)).json()).token, 'ENC-3');
  });
});
