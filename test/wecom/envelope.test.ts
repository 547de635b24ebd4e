/**
 * parseEnvelope runs on any body, before msg_signature is checked, so it must
 * stay cheap whatever the body: it counts, scans and locates, and leaves the
 * XML parse to confirmEnvelope, after the signature check.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WecomError } from "../../src/errors.js";
import { confirmEnvelope, MAX_ENVELOPE_JSON_PUNCTUATION, MAX_ENVELOPE_TAGS, parseEnvelope } from "../../src/wecom/envelope.js";
import { envelope, TEST_APP } from "../support/wecom.js";
import { filled, manyElements, MiB } from "./bodies.js";

const ENCRYPT = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";

function refusal(run: () => unknown): { code: unknown; message: string; detail: string | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof WecomError) return { code: error.code, message: error.message, detail: error.detail };
    throw error;
  }
  throw new Error("expected a refusal");
}

afterEach(() => vi.restoreAllMocks());

describe("parseEnvelope, before the signature check", () => {
  it("finds the Encrypt of WeCom's envelope, with ToUserName and AgentID around it", () => {
    expect(parseEnvelope(envelope(ENCRYPT))).toEqual({ format: "xml", encrypt: ENCRYPT, located: ENCRYPT });
    expect(parseEnvelope(`<xml>\n  <Encrypt>${ENCRYPT}</Encrypt>\n  <AgentID>218</AgentID>\n</xml>`).encrypt).toBe(ENCRYPT);
    expect(parseEnvelope(envelope(ENCRYPT, "json"))).toEqual({ format: "json", encrypt: ENCRYPT, located: ENCRYPT });
  });

  it("restores a '+' that form decoding turned into a space, and remembers what the body had", () => {
    const spaced = ENCRYPT.replaceAll("+", " ");
    expect(parseEnvelope(`<xml><Encrypt><![CDATA[${spaced}]]></Encrypt></xml>`)).toEqual({ format: "xml", encrypt: ENCRYPT, located: spaced });
  });

  it("never runs the XML validator or parser, whatever the body", () => {
    const validate = vi.spyOn(XMLValidator, "validate");
    const parse = vi.spyOn(XMLParser.prototype, "parse");
    parseEnvelope(envelope(ENCRYPT));
    parseEnvelope(filled("<xml><Encrypt>", "A", "</Encrypt></xml>"));
    expect(() => parseEnvelope(manyElements(ENCRYPT))).toThrow(WecomError);
    expect(validate).not.toHaveBeenCalled();
    expect(parse).not.toHaveBeenCalled();
  });

  it(`refuses a 1 MiB envelope of ~130k elements by counting, with -40002`, () => {
    const body = manyElements(ENCRYPT);
    expect(body.length).toBeLessThanOrEqual(MiB);
    expect(refusal(() => parseEnvelope(body))).toEqual({
      code: -40002,
      message: "XML could not be parsed",
      detail: `the envelope has more than ${MAX_ENVELOPE_TAGS} tags`,
    });
  });

  it(`takes ${MAX_ENVELOPE_TAGS} '<' and refuses one more`, () => {
    const padded = (lt: number) => {
      // <xml>, <Encrypt>, <![CDATA[ and </Encrypt>, </xml> are 5; each <P/> adds one.
      const body = `<xml><Encrypt><![CDATA[${ENCRYPT}]]></Encrypt>${"<P/>".repeat(lt - 5)}</xml>`;
      expect(body.split("<").length - 1).toBe(lt);
      return body;
    };
    expect(parseEnvelope(padded(MAX_ENVELOPE_TAGS)).encrypt).toBe(ENCRYPT);
    expect(refusal(() => parseEnvelope(padded(MAX_ENVELOPE_TAGS + 1))).detail).toBe(`the envelope has more than ${MAX_ENVELOPE_TAGS} tags`);
  });

  it("refuses a DOCTYPE before the signature check, however it is hidden", () => {
    const body = `<!--<![CDATA[--><!DOCTYPE xml [<!ENTITY e "${ENCRYPT}">]><!--]]>--><xml><Encrypt>&e;</Encrypt></xml>`;
    expect(refusal(() => parseEnvelope(body))).toEqual({
      code: -40002,
      message: "XML could not be parsed",
      detail: "DOCTYPE is not allowed at line 1, column 17",
    });
  });

  it("refuses any <! but a comment or CDATA opener, even where parseXml would not look (an envelope holds no such text)", () => {
    const body = `<xml><!-- <!DOCTYPE x> --><Encrypt><![CDATA[${ENCRYPT}]]></Encrypt></xml>`;
    expect(refusal(() => parseEnvelope(body)).detail).toBe("DOCTYPE is not allowed at line 1, column 11");
    const commented = `<?xml version="1.0" encoding="UTF-8"?>\n<!-- from WeCom -->\n<xml><Encrypt><![CDATA[${ENCRYPT}]]></Encrypt></xml>`;
    expect(parseEnvelope(commented).encrypt).toBe(ENCRYPT);
  });

  it.each([
    ["no Encrypt", `<xml><ToUserName>${TEST_APP.receiveId}</ToUserName></xml>`],
    ["an empty Encrypt", "<xml><Encrypt></Encrypt></xml>"],
    ["an empty CDATA Encrypt", "<xml><Encrypt><![CDATA[]]></Encrypt></xml>"],
    ["an Encrypt never closed", `<xml><Encrypt>${ENCRYPT}</xml>`],
  ])("refuses an XML envelope with %s", (_, body) => {
    expect(refusal(() => parseEnvelope(body))).toEqual({ code: -40002, message: "XML envelope has no Encrypt element", detail: undefined });
  });

  it.each([
    ["deep nesting", filled(`{"encrypt":"${ENCRYPT}","a":`, "[", "")],
    ["deep nesting, closed", (() => { const half = Math.floor((MiB - ENCRYPT.length - 20) / 2); return `{"encrypt":"${ENCRYPT}","a":${"[".repeat(half)}${"]".repeat(half)}}`; })()],
    ["130k small objects", filled(`{"encrypt":"${ENCRYPT}","a":[`, '{"b":1},', "{}]}")],
    ["100k keys", filled(`{"encrypt":"${ENCRYPT}"`, ',"k":0', "}")],
  ])(`refuses a 1 MiB JSON envelope of %s by counting, with -40002`, (_, body) => {
    expect(body.length).toBeLessThanOrEqual(MiB);
    expect(refusal(() => parseEnvelope(body))).toEqual({
      code: -40002,
      message: "JSON envelope could not be parsed",
      detail: `the envelope has more than ${MAX_ENVELOPE_JSON_PUNCTUATION} of "{", "[" and ","`,
    });
  });

  it(`takes ${MAX_ENVELOPE_JSON_PUNCTUATION} of "{", "[" and "," in a JSON envelope, and refuses one more`, () => {
    const body = (n: number) => `{"encrypt":"${ENCRYPT}","a":[${"0,".repeat(n - 3)}0]}`;
    expect(parseEnvelope(body(MAX_ENVELOPE_JSON_PUNCTUATION)).encrypt).toBe(ENCRYPT);
    expect(refusal(() => parseEnvelope(body(MAX_ENVELOPE_JSON_PUNCTUATION + 1))).message).toBe("JSON envelope could not be parsed");
  });
});

describe("confirmEnvelope, after the signature check", () => {
  it("parses the whole XML envelope with fast-xml-parser", () => {
    const validate = vi.spyOn(XMLValidator, "validate");
    const body = envelope(ENCRYPT);
    confirmEnvelope(body, parseEnvelope(body));
    expect(validate).toHaveBeenCalledTimes(1);
  });

  it("refuses a malformed envelope whose Encrypt was signed", () => {
    const body = `<xml><Encrypt>${ENCRYPT}</Encrypt>`;
    expect(refusal(() => confirmEnvelope(body, parseEnvelope(body)))).toEqual({
      code: -40002,
      message: "XML could not be parsed",
      detail: "not well-formed at line 1, column 1",
    });
  });

  it.each([
    ["a commented-out Encrypt before the real one", `<xml><!--<Encrypt>${ENCRYPT}</Encrypt>--><Encrypt>AAAA</Encrypt></xml>`],
    ["an entity inside Encrypt", `<xml><Encrypt>${ENCRYPT}&amp;</Encrypt></xml>`],
    ["two CDATA sections", `<xml><Encrypt><![CDATA[${ENCRYPT}]]><![CDATA[AAAA]]></Encrypt></xml>`],
  ])("refuses %s: the parser's Encrypt must be the one that was signed", (_, body) => {
    expect(refusal(() => confirmEnvelope(body, parseEnvelope(body)))).toEqual({
      code: -40002,
      message: "XML envelope has an ambiguous Encrypt element",
      detail: "the parsed Encrypt is not the one located for the signature check",
    });
  });

  it("refuses an Encrypt that is an element, not text", () => {
    const body = `<xml><Encrypt><a>${ENCRYPT}</a></Encrypt></xml>`;
    expect(refusal(() => confirmEnvelope(body, parseEnvelope(body)))).toMatchObject({ code: -40002, message: "XML envelope has no Encrypt element" });
  });
});
