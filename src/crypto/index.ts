export { computeMsgSignature, verifyMsgSignature } from "./signature.js";
export { decryptMessage, encryptMessage, importEncodingAesKey, type AesKey, type Decrypted } from "./wxbizmsgcrypt.js";
