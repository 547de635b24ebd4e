/**
 * Image fixtures for AI-bot streams' msg_item, made outside src/: a 1×1 PNG written
 * with Node's zlib, a 1×1 JPEG, and a GIF (which WeCom does not take); each MD5 is
 * `md5sum` of the decoded bytes.
 */
export interface ImageFixture {
  readonly base64: string;
  readonly md5: string;
}

/** 69 bytes. */
export const PNG: ImageFixture = {
  base64: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgP5gAAAH7ASkHCmeyAAAAAElFTkSuQmCC",
  md5: "8bab4e131ff251a205b3956efdff536c",
};

/** 134 bytes. */
export const JPG: ImageFixture = {
  base64:
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=",
  md5: "8f4341201a23609636243f91f2447e95",
};

export const GIF: ImageFixture = { base64: "R0lGODlhAQABAAAAACw=", md5: "636b5bfefe08d269bbc43e2523d28004" };

/** A msg_item entry as WeCom defines it. */
export function image(fixture: ImageFixture): { msgtype: "image"; image: { base64: string; md5: string } } {
  return { msgtype: "image", image: { base64: fixture.base64, md5: fixture.md5 } };
}
