export { decodeBase64, encodeBase64, timingSafeEqual } from "./bytes.js";
export { computeMsgSignature, verifyMsgSignature } from "./signature.js";
export { decryptMessage, encryptMessage, importEncodingAesKey, type AesKey, type Decrypted } from "./wxbizmsgcrypt.js";
