// wecom-edge/events: type guards over the event JSON (docs/events.md); the
// types are in events.d.ts. Each guard checks the field WeCom discriminates by.

const payload = (e) => (e !== null && typeof e === 'object' && e.event !== null && typeof e.event === 'object' ? e.event : {});

/** A message of MsgType `msgType`. */
export function isMessage(e, msgType) {
  return payload(e).MsgType === msgType;
}

/** An app event `event`, and with `changeType` of that ChangeType: isEvent(e, "change_contact", "create_user"). */
export function isEvent(e, event, changeType) {
  const p = payload(e);
  return p.MsgType === 'event' && p.Event === event && (changeType === undefined || p.ChangeType === changeType);
}

/** A third-party suite's instruction callback of InfoType `infoType`. */
export function isSuiteInfo(e, infoType) {
  return payload(e).InfoType === infoType;
}

/** An AI bot's callback of msgtype `msgtype`. */
export function isBot(e, msgtype) {
  return e?.format === 'json' && payload(e).msgtype === msgtype;
}
