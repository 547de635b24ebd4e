/**
 * A finished stream's msg_item (docs/replies.md, "Stream limits"): checked in full before
 * anything is stored or sent. The images and their MD5s are fixtures made outside src/
 * (Node's zlib and `md5sum`), so the digest is checked against values it did not make.
 */
import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../src/lib/bytes.js";
import {
  MAX_MSG_ITEM_BYTES,
  MAX_STREAM_BYTES,
  MAX_STREAM_IMAGES,
  MAX_STREAM_STATE_BYTES,
  checkMsgItem,
  msgItemDigestProblem,
  replyProblem,
  type MsgItem,
  type MsgItemProblem,
} from "../../src/wecom/reply.js";
import { GIF, JPG, PNG, image } from "./images.js";

function checked(value: unknown): MsgItem {
  const result = checkMsgItem(value, "msg_item");
  if ("problem" in result) throw new Error(result.problem);
  return result;
}

const problemOf = (value: unknown): MsgItemProblem | { json: string } => {
  const result = checkMsgItem(value, "msg_item");
  return "problem" in result ? result : { json: result.json };
};

/** One image item whose base64 is `length` characters: a PNG signature, then zeros (no padding when length % 4 is 0). */
function pngOfBase64Length(length: number): { msgtype: string; image: { base64: string; md5: string } } {
  const bytes = new Uint8Array((length / 4) * 3);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return { msgtype: "image", image: { base64: encodeBase64(bytes), md5: "0".repeat(32) } };
}

/** The JSON around one image's base64 in msg_item: `[{"msgtype":"image","image":{"base64":"…","md5":"<32>"}}]`. */
const ONE_ITEM_OVERHEAD = JSON.stringify([{ msgtype: "image", image: { base64: "", md5: "0".repeat(32) } }]).length;

describe("the stream limits", () => {
  it("are WeCom's 20480 bytes and 10 images, and one Durable Object row's 1.9 MB for content and msg_item together", () => {
    expect([MAX_STREAM_BYTES, MAX_STREAM_IMAGES, MAX_STREAM_STATE_BYTES, MAX_MSG_ITEM_BYTES]).toEqual([20_480, 10, 1_900_000, 1_879_520]);
  });
});

describe("checkMsgItem", () => {
  it("takes PNG and JPG images, and keeps only WeCom's fields, in its order", () => {
    const extra = { msgtype: "image", note: "dropped", image: { md5: JPG.md5, base64: JPG.base64, name: "also dropped" } };
    const result = checked([image(PNG), extra]);
    expect(result.json).toBe(
      `[{"msgtype":"image","image":{"base64":"${PNG.base64}","md5":"${PNG.md5}"}},{"msgtype":"image","image":{"base64":"${JPG.base64}","md5":"${JPG.md5}"}}]`,
    );
    expect(result.images.map((i) => [i.bytes.length, i.md5])).toEqual([
      [69, PNG.md5],
      [134, JPG.md5],
    ]);
  });

  it("takes an empty array and exactly 10 images", () => {
    expect(problemOf([])).toEqual({ json: "[]" });
    expect(checked(Array(10).fill(image(PNG))).images.length).toBe(10);
  });

  it.each([
    ["not an array", { msgtype: "image" }, "msg_item must be an array of images"],
    ["11 images", Array(11).fill(image(PNG)), "msg_item holds 11 images; WeCom takes at most 10"],
    ["a text item", [image(PNG), { msgtype: "text", text: { content: "x" } }], 'msg_item[1] must be {"msgtype": "image", "image": {"base64", "md5"}}'],
    ["no image object", [{ msgtype: "image", base64: PNG.base64, md5: PNG.md5 }], 'msg_item[0] must be {"msgtype": "image", "image": {"base64", "md5"}}'],
    ["a number for base64", [{ msgtype: "image", image: { base64: 1, md5: PNG.md5 } }], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["base64 with a space", [image({ ...PNG, base64: `${PNG.base64.slice(0, 8)} ${PNG.base64.slice(9)}` })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["base64url", [image({ ...PNG, base64: JPG.base64.replaceAll("/", "_") })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["unpadded base64", [image({ ...JPG, base64: JPG.base64.replace(/=+$/, "") })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["= inside base64", [image({ ...PNG, base64: `AA==${PNG.base64}` })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["three =", [image({ ...PNG, base64: "iVBO====" })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["line breaks (MIME base64)", [image({ ...PNG, base64: `${PNG.base64.slice(0, 40)}\r\n${PNG.base64.slice(40, 80)}\r\n${PNG.base64.slice(80)}` })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["stray bits after the last byte", [image({ ...JPG, base64: JPG.base64.replace(/A=$/, "B=") })], "msg_item[0].image.base64 must be padded base64 (A-Z, a-z, 0-9, +, /)"],
    ["a GIF", [image(PNG), image(GIF)], "msg_item[1].image is not a JPG or PNG (WeCom takes only those)"],
    ["text in base64", [image({ base64: "aGVsbG8=", md5: "5d41402abc4b2a76b9719d911017c592" })], "msg_item[0].image is not a JPG or PNG (WeCom takes only those)"],
    ["an empty image", [image({ base64: "", md5: "d41d8cd98f00b204e9800998ecf8427e" })], "msg_item[0].image is not a JPG or PNG (WeCom takes only those)"],
    ["an uppercase md5", [image({ ...PNG, md5: PNG.md5.toUpperCase() })], "msg_item[0].image.md5 must be 32 lowercase hex digits"],
    ["a short md5", [image({ ...PNG, md5: PNG.md5.slice(1) })], "msg_item[0].image.md5 must be 32 lowercase hex digits"],
  ])("refuses %s, by path", (_, value, problem) => {
    expect(problemOf(value)).toEqual({ problem, tooLarge: false });
  });

  it("holds msg_item's JSON to MAX_MSG_ITEM_BYTES, checked before any image is decoded", () => {
    const fits = Math.floor((MAX_MSG_ITEM_BYTES - ONE_ITEM_OVERHEAD) / 4) * 4;
    const largest = checked([pngOfBase64Length(fits)]);
    expect([largest.json.length, largest.images[0]!.bytes.length]).toEqual([fits + ONE_ITEM_OVERHEAD, (fits / 4) * 3]);
    expect(largest.json.length).toBe(1_879_520);
    expect(problemOf([pngOfBase64Length(fits + 4)])).toEqual({
      problem: "msg_item is 1879524 bytes of JSON; a stream holds at most 1879520 beside its content (1900000 in all)",
      tooLarge: true,
    });
    // Too large is said even of images that are not images: nothing is decoded past the limit.
    const notAnImage = { msgtype: "image", image: { base64: "A".repeat(fits + 4), md5: "0".repeat(32) } };
    expect(problemOf([notAnImage])).toMatchObject({ tooLarge: true });
    // Ten images share it.
    const tenth = Math.floor((MAX_MSG_ITEM_BYTES + 1) / 10 / 4) * 4;
    expect(problemOf(Array(10).fill(pngOfBase64Length(tenth)))).toMatchObject({ tooLarge: true });
  });
});

describe("msgItemDigestProblem", () => {
  it("accepts the MD5 of each image's bytes", async () => {
    expect(await msgItemDigestProblem(checked([image(PNG), image(JPG)]), "msg_item")).toBeNull();
  });

  it("names the first image whose md5 is another's, with the MD5 it has", async () => {
    const swapped = checked([image(PNG), image({ ...JPG, md5: PNG.md5 })]);
    expect(await msgItemDigestProblem(swapped, "msg_item")).toBe(`msg_item[1].image.md5 is not the MD5 of its image (${JPG.md5})`);
  });
});

describe("a reply object's stream.msg_item", () => {
  const stream = (msgItem: unknown) => ({ msgtype: "stream", stream: { id: "s1", finish: true, content: "done", msg_item: msgItem } });

  it("is checked as the stream API checks it", () => {
    expect(replyProblem(stream([image(PNG)]))).toBeNull();
    expect(replyProblem(stream([image(GIF)]))).toBe("stream.msg_item[0].image is not a JPG or PNG (WeCom takes only those)");
    expect(replyProblem(stream(Array(11).fill(image(JPG))))).toBe("stream.msg_item holds 11 images; WeCom takes at most 10");
    expect(replyProblem({ ...stream([image(PNG)]), stream: { id: "s1", content: "x", msg_item: [image(PNG)] } })).toBe(
      "stream.msg_item goes only with finish: true",
    );
  });
});
