import { describe, expect, it } from "vitest";
import { WecomError } from "../../src/errors.js";
import { MAX_XML_DEPTH, parseXml } from "../../src/wecom/xml.js";

function refusal(text: string): { code: unknown; message: string; detail: string | undefined } {
  try {
    parseXml(text);
  } catch (error) {
    if (error instanceof WecomError) return { code: error.code, message: error.message, detail: error.detail };
    throw error;
  }
  throw new Error("expected parseXml to refuse");
}

describe("parseXml", () => {
  it("keeps every leaf as its exact text: no number guessing, no trimming", () => {
    expect(
      parseXml(
        "<xml><MsgId>4561255354251345929</MsgId><UserID>007</UserID><Score>1e3</Score><Hex>0x10</Hex>" +
          "<Content><![CDATA[  hi\nthere  ]]></Content><Empty></Empty><SelfClosed/><Bool>true</Bool></xml>",
      ),
    ).toEqual({
      MsgId: "4561255354251345929",
      UserID: "007",
      Score: "1e3",
      Hex: "0x10",
      Content: "  hi\nthere  ",
      Empty: "",
      SelfClosed: "",
      Bool: "true",
    });
  });

  it("decodes the five predefined entities and character references", () => {
    expect(parseXml("<xml><A>a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;</A><B>&#20225;&#x4E1A;</B></xml>")).toEqual({
      A: `a & b < c > d "e" 'f'`,
      B: "企业",
    });
  });

  it("drops the declaration, attributes, comments and whitespace between elements", () => {
    expect(
      parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n<xml>\n  <A lang="zh">x</A>\n  <!-- c -->\n  <B>\n    <C>y</C>\n  </B>\n</xml>\n`),
    ).toEqual({ A: "x", B: { C: "y" } });
  });

  it("gives a repeating element one shape whether it occurs once or many times", () => {
    const once = parseXml(
      "<xml><ExtAttr><Item><Name>爱好</Name><Type>0</Type><Text><Value>旅游</Value></Text></Item></ExtAttr></xml>",
    );
    const twice = parseXml(
      "<xml><ExtAttr><Item><Name>a</Name></Item><Item><Name>b</Name></Item></ExtAttr></xml>",
    );
    expect(once).toEqual({ ExtAttr: { Item: [{ Name: "爱好", Type: "0", Text: { Value: "旅游" } }] } });
    expect(twice).toEqual({ ExtAttr: { Item: [{ Name: "a" }, { Name: "b" }] } });
  });

  it("shapes an approval (sys_approval_change) with arrays for SpRecord, Details, Notifyer and Comments", () => {
    const event = parseXml(
      "<xml><ApprovalInfo><SpNo>202611280001</SpNo><SpStatus>1</SpStatus>" +
        "<SpRecord><SpStatus>1</SpStatus><ApproverAttr>1</ApproverAttr>" +
        "<Details><Approver><UserId>lisi</UserId></Approver><Speech></Speech><SpStatus>1</SpStatus><SpTime>0</SpTime></Details>" +
        "</SpRecord>" +
        "<Notifyer><UserId>wangwu</UserId></Notifyer>" +
        "</ApprovalInfo></xml>",
    );
    expect(event).toEqual({
      ApprovalInfo: {
        SpNo: "202611280001",
        SpStatus: "1",
        SpRecord: [
          {
            SpStatus: "1",
            ApproverAttr: "1",
            Details: [{ Approver: { UserId: "lisi" }, Speech: "", SpStatus: "1", SpTime: "0" }],
          },
        ],
        Notifyer: [{ UserId: "wangwu" }],
      },
    });
  });

  it("shapes menu photo events' PicList items as an array", () => {
    expect(
      parseXml("<xml><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>abc</PicMd5Sum></item></PicList></SendPicsInfo></xml>"),
    ).toEqual({ SendPicsInfo: { Count: "1", PicList: { item: [{ PicMd5Sum: "abc" }] } } });
  });

  it("still parses a message whose text mentions a DOCTYPE", () => {
    expect(parseXml("<xml><Content><![CDATA[<!DOCTYPE html><!ENTITY x 'y'>]]></Content></xml>")).toEqual({
      Content: "<!DOCTYPE html><!ENTITY x 'y'>",
    });
  });

  it.each([
    ["a DOCTYPE", '<!DOCTYPE xml [<!ENTITY a "b">]><xml><A>&a;</A></xml>', "DOCTYPE is not allowed at line 1, column 1"],
    ["a DOCTYPE after a comment", '<?xml version="1.0"?><!-- x --><!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml/>', "DOCTYPE is not allowed at line 1, column 32"],
    ["a DOCTYPE inside the root element", '<xml><!DOCTYPE x [<!ENTITY a "bbbbbbbbbb">]><A>&a;&a;</A></xml>', "DOCTYPE is not allowed at line 1, column 6"],
    ["an ENTITY declaration alone", '<xml><!ENTITY a "b"><A>&a;</A></xml>', "DOCTYPE is not allowed at line 1, column 6"],
    ["a billion laughs", '<!DOCTYPE l [<!ENTITY l0 "ha"><!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;">]><xml><A>&l1;</A></xml>', "DOCTYPE is not allowed at line 1, column 1"],
  ])("refuses %s before expanding anything", (_, text, detail) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail });
  });

  it("keeps an undeclared entity as literal text, never expanding it", () => {
    expect(parseXml("<xml><A>&xxe;</A><B>&nbsp;</B></xml>")).toEqual({ A: "&xxe;", B: "&nbsp;" });
  });

  it("joins text split by CDATA sections", () => {
    expect(parseXml("<xml><A>a<![CDATA[<b>]]>c</A></xml>")).toEqual({ A: "a<b>c" });
  });

  it(`refuses nesting deeper than ${MAX_XML_DEPTH}`, () => {
    const ok = `<xml>${"<a>".repeat(MAX_XML_DEPTH - 1)}x${"</a>".repeat(MAX_XML_DEPTH - 1)}</xml>`;
    expect(() => parseXml(ok)).not.toThrow();
    const deep = `<xml>${"<a>".repeat(MAX_XML_DEPTH + 1)}x${"</a>".repeat(MAX_XML_DEPTH + 1)}</xml>`;
    expect(refusal(deep)).toEqual({ code: -40002, message: "XML could not be parsed", detail: "Maximum nested tags exceeded" });
  });

  it.each([
    ["unclosed", "<xml><A>x</A>"],
    ["mismatched", "<xml><A>x</B></xml>"],
    ["two roots", "<xml/><xml/>"],
    ["text only", "hello"],
    ["a root without children", "<xml>hello</xml>"],
    ["a prototype-polluting name", "<xml><__proto__><a>1</a></__proto__></xml>"],
  ])("refuses %s XML with -40002", (_, text) => {
    expect(refusal(text)).toMatchObject({ code: -40002, message: "XML could not be parsed" });
  });
});
