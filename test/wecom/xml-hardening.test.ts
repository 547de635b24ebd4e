/**
 * parseXml against what fast-xml-parser would do without its guards: a DOCTYPE
 * hidden from a scan that tokenises differently, element names the parser
 * renames or refuses, and documents the validator gives no position for.
 */
import fc from "fast-check";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { WecomError } from "../../src/errors.js";
import { scanMarkup } from "../../src/wecom/markup.js";
import { PARSER_OPTIONS, parseXml } from "../../src/wecom/xml.js";

function refusal(text: string): { code: unknown; message: string; detail: string | undefined } {
  try {
    parseXml(text);
  } catch (error) {
    if (error instanceof WecomError) return { code: error.code, message: error.message, detail: error.detail };
    throw error;
  }
  throw new Error("expected parseXml to refuse");
}

const DOCTYPE = '<!DOCTYPE xml [<!ENTITY e "PWNED">]>';
const BYPASS = `<!--<![CDATA[-->${DOCTYPE}<!--]]>--><xml><A>&e;</A></xml>`;

/**
 * fast-xml-parser as it would run with no scan in front and its default entity
 * decoder: it honours a DOCTYPE wherever its own tokenising finds one.
 */
const bareParser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: {} as unknown as boolean,
});

/**
 * Whether the bare parser expands `&e;` from a DOCTYPE in `text`: its output
 * then differs from that of the same text with `&e;` renamed to an entity no
 * DOCTYPE declares (renamed back afterwards, so literal text compares equal).
 */
function bareParserExpands(text: string): boolean {
  let declared: string;
  let undeclared: string;
  try {
    declared = JSON.stringify(bareParser.parse(text));
    undeclared = JSON.stringify(bareParser.parse(text.replaceAll("&e;", "&undeclared;"))).replaceAll("&undeclared;", "&e;");
  } catch {
    return false;
  }
  return declared !== undeclared;
}

const column = (text: string) => `DOCTYPE is not allowed at line 1, column ${text.indexOf("<!DOCTYPE") + 1}`;

describe("a DOCTYPE is refused wherever fast-xml-parser would see one", () => {
  it("the premise: the bare parser expands the entity of the comment/CDATA bypass", () => {
    expect(bareParser.parse(BYPASS)).toEqual({ xml: { A: "PWNED" } });
  });

  it.each([
    ["a comment holding <![CDATA[ (the bypass)", BYPASS],
    ["the same inside the root element", `<xml><!--<![CDATA[-->${DOCTYPE}<!--]]>--><A>&e;</A></xml>`],
    ["a processing instruction holding <![CDATA[", `<?pi <![CDATA[?>${DOCTYPE}<?pi ]]>?><xml><A>&e;</A></xml>`],
    ["an attribute holding <![CDATA[", `<xml><a x="<![CDATA["/>${DOCTYPE}<b y="]]>"/><A>&e;</A></xml>`],
    ["a CDATA section holding <!--", `<xml><A><![CDATA[<!--]]></A>${DOCTYPE}<B><![CDATA[-->]]></B><C>&e;</C></xml>`],
    ["a processing instruction holding <!--", `<?pi <!--?>${DOCTYPE}<?pi -->?><xml><A>&e;</A></xml>`],
    ["an attribute holding <!--", `<xml><a x="<!--"/>${DOCTYPE}<b y="-->"/><A>&e;</A></xml>`],
    ["a quoted ?> in a processing instruction", `<?pi "?>" <!-- ?>${DOCTYPE} --><xml><A>&e;</A></xml>`],
    ["a comment opened inside a comment", `<!-- <!-- -->${DOCTYPE}<!-- --><xml><A>&e;</A></xml>`],
    ["a CDATA opener inside CDATA", `<xml><A><![CDATA[<![CDATA[]]>${DOCTYPE}]]></A><B>&e;</B></xml>`],
  ])("refuses a DOCTYPE after %s", (_, text) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail: column(text) });
  });

  it.each([
    ["<!ENTITY", '<xml><!--<![CDATA[--><!ENTITY e "PWNED"><!--]]>--><A>&e;</A></xml>', "DOCTYPE is not allowed at line 1, column 22"],
    ["<!ELEMENT", "<xml><!ELEMENT a ANY><A>x</A></xml>", "DOCTYPE is not allowed at line 1, column 6"],
    ["<!ATTLIST", "<xml><!ATTLIST a b CDATA #IMPLIED><A>x</A></xml>", "DOCTYPE is not allowed at line 1, column 6"],
    ["a lowercase <!doctype", "<!doctype xml><xml><A>x</A></xml>", "DOCTYPE is not allowed at line 1, column 1"],
    ["a marked section other than CDATA", "<xml><A><![IGNORE[x]]></A></xml>", "DOCTYPE is not allowed at line 1, column 9"],
    ["a bare <!", "<xml><!x><A>x</A></xml>", "DOCTYPE is not allowed at line 1, column 6"],
  ])("refuses any other <! such as %s", (_, text, detail) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail });
  });

  it.each([
    ["comment", "<xml><A>x</A><!-- no end</xml>", "not well-formed at line 1, column 14"],
    ["CDATA section", "<xml><A><![CDATA[x</A></xml>", "not well-formed at line 1, column 9"],
    ["processing instruction", "<xml><?pi x</xml>", "not well-formed at line 1, column 6"],
    ["quoted attribute", '<xml><A x="></A></xml>', "not well-formed at line 1, column 6"],
    ["end tag, on line 2", "<xml>\n<A>x</A></xml", "not well-formed at line 2, column 9"],
  ])("refuses an unterminated %s, by position", (_, text, detail) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail });
  });

  it("keeps text that only mentions markup, as a user may type it", () => {
    expect(
      parseXml(
        "<?xml version=\"1.0\"?><!-- <!DOCTYPE in a comment> --><xml><Content><![CDATA[<!DOCTYPE html><!--]]></Content>" +
          "<B><![CDATA[<!ENTITY e 'x'> --> ?> <?pi]]></B><C>&amp;e; &lt;!DOCTYPE&gt;</C><?pi <!DOCTYPE ?></xml>",
      ),
    ).toEqual({ Content: "<!DOCTYPE html><!--", B: "<!ENTITY e 'x'> --> ?> <?pi", C: "&e; <!DOCTYPE>" });
  });

  it("is refused by the parser's own entity decoder too, should a DOCTYPE ever get past the scan", () => {
    const parser = new XMLParser(PARSER_OPTIONS);
    expect(() => parser.parse(BYPASS)).toThrow("a DOCTYPE reached the parser");
    // The same decoder still decodes what XML predefines, and resets between documents.
    expect(parser.parse("<xml><A>&amp;&#20225;&#x4E1A;</A></xml>")).toEqual({ "<xml": { "<A": "&企业" } });
  });

  // Documents built from the constructs a scan must tell apart, each holding the openers and
  // closers of the others, with a DOCTYPE (or a lone ENTITY) between them and `&e;` to expand.
  const token = fc.constantFrom("<!--", "-->", "<![CDATA[", "]]>", "<?pi ", "?>", '"', "'", ">", "<", "t", "&e;");
  const inner = fc.array(token, { maxLength: 3 }).map((tokens) => tokens.join(""));
  const item = fc.oneof(
    fc.constantFrom(DOCTYPE, '<!ENTITY e "PWNED">'),
    inner.map((s) => `<!--${s}-->`),
    inner.map((s) => `<![CDATA[${s}]]>`),
    inner.map((s) => `<?pi ${s}?>`),
    inner.map((s) => `<a x="${s}"/>`),
    inner.map((s) => `<a x='${s}'/>`),
    token,
  );
  const documents = fc
    .tuple(fc.array(item, { maxLength: 5 }), fc.array(item, { maxLength: 5 }), fc.array(item, { maxLength: 2 }))
    .map(([before, inside, after]) => `${before.join("")}<xml>${inside.join("")}<A>&e;</A></xml>${after.join("")}`);

  it("property: whenever the bare parser would expand an entity, the scan and parseXml refuse", () => {
    let expanding = 0;
    fc.assert(
      fc.property(documents, (text) => {
        if (!bareParserExpands(text)) return;
        expanding++;
        expect(scanMarkup(text)).toBeDefined();
        expect(() => parseXml(text)).toThrow(WecomError);
      }),
      { numRuns: 3000 },
    );
    // Not vacuous: many of the generated documents do smuggle a DOCTYPE past a naive scan.
    expect(expanding).toBeGreaterThan(100);
  });

  it("property: text parseXml accepts never carries an expanded entity", () => {
    fc.assert(
      fc.property(documents, (text) => {
        let event: unknown;
        try {
          event = parseXml(text);
        } catch {
          return;
        }
        // PWNED may stand in text only as part of a declaration the text quotes.
        expect(JSON.stringify(event).replaceAll('ENTITY e \\"PWNED', "")).not.toContain("PWNED");
      }),
      { numRuns: 3000 },
    );
  });
});

describe("every element keeps its own name", () => {
  const names = ["hasOwnProperty", "constructor", "toString", "valueOf", "prototype", "__defineGetter__", "__lookupSetter__", "isPrototypeOf"];

  it("gives elements named like Object.prototype's members under those names", () => {
    const text = `<xml>${names.map((n, i) => `<${n}>v${i}</${n}>`).join("")}</xml>`;
    const event = parseXml(text);
    expect(JSON.stringify(event)).toBe(
      '{"hasOwnProperty":"v0","constructor":"v1","toString":"v2","valueOf":"v3","prototype":"v4","__defineGetter__":"v5","__lookupSetter__":"v6","isPrototypeOf":"v7"}',
    );
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(Object.keys(event)).toEqual(names);
  });

  it("keeps them nested, repeated and self-closing, and touches no prototype", () => {
    const event = parseXml(
      "<xml><A><constructor><prototype>1</prototype></constructor></A><toString/><valueOf>a</valueOf><valueOf>b</valueOf>" +
        "<ExtAttr><Item/></ExtAttr><B/></xml>",
    );
    expect(JSON.stringify(event)).toBe(
      '{"A":{"constructor":{"prototype":"1"}},"toString":"","valueOf":["a","b"],"ExtAttr":{"Item":[""]},"B":""}',
    );
    expect(({} as Record<string, unknown>).prototype).toBeUndefined();
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  });

  it.each([
    ["at the top", "<xml><__proto__><a>1</a></__proto__></xml>"],
    ["nested, as text", "<xml><A><__proto__>x</__proto__></A></xml>"],
    ["self-closing", "<xml><__proto__/></xml>"],
  ])("refuses an element named __proto__ %s, and pollutes nothing", (_, text) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail: "an element is named __proto__" });
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });
});

describe("a refusal's detail is a position, never 'undefined'", () => {
  it.each([
    ["an empty document", "", "empty document"],
    ["a document of whitespace", " \n\t\r\n", "empty document"],
    ["a comment and no element", "<!-- only -->", "not well-formed at line 1"],
    ["a declaration and no element", '<?xml version="1.0"?>\n', "not well-formed at line 1"],
    ["text and no element", "hello", "not well-formed at line 1, column 1"],
  ])("describes %s", (_, text, detail) => {
    expect(refusal(text)).toEqual({ code: -40002, message: "XML could not be parsed", detail });
  });

  it("property: no detail of any refusal holds 'undefined' or quotes the text", () => {
    const marker = "Qz9";
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.array(fc.constantFrom("<", ">", "/", "xml", "A", "!", "?", "--", "[CDATA[", "]]>", '"', " ", "\n", "&", ";", "#", marker), { maxLength: 20 }).map((a) => a.join("")),
    );
    fc.assert(
      fc.property(text, (t) => {
        try {
          parseXml(t);
        } catch (error) {
          expect(error).toBeInstanceOf(WecomError);
          const detail = (error as WecomError).detail ?? "";
          expect(detail).not.toContain("undefined");
          expect(detail).not.toContain("NaN");
          expect(detail).not.toContain(marker);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("one entity decoder for every parse", () => {
  it("reads each document as XML 1.0 unless it declares 1.1, whatever the document before declared", () => {
    // The entity decoder serves every parse: the version of one must not carry over to the next.
    expect(parseXml('<?xml version="1.1"?><xml><A>a&#1;b</A></xml>')).toEqual({ A: "a\u0001b" });
    expect(parseXml("<xml><A>a&#1;b&#9;c</A></xml>")).toEqual({ A: "ab\tc" });
  });
});
