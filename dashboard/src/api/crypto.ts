// Colonies keys and signatures, exactly as the broker checks them:
// - a private key is 32 bytes written as 64 hex characters;
// - an id is SHA3-256 of the *hex text* of the uncompressed public key;
// - a request is signed by signing SHA3-256 of the base64 payload text with
//   recoverable ECDSA on secp256k1 (RFC 6979 nonce, low s), written as
//   r ‖ s ‖ v in hex with v ∈ {0, 1}.
import * as secp from "@noble/secp256k1";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";

// Synchronous signing needs these; WebCrypto (the async default) exists only
// in secure contexts, and a broker is often reached over plain HTTP on a LAN.
secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key: Uint8Array, msg: Uint8Array) => hmac(sha256, key, msg);

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** A private key held in memory, with the id it signs as. */
export class PrivateKey {
  readonly id: string;
  readonly #secret: Uint8Array;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    const pub = secp.getPublicKey(secret, false);
    this.id = bytesToHex(sha3_256(utf8ToBytes(bytesToHex(pub))));
  }

  /** Parses 64 hex characters; throws a readable error otherwise. */
  static fromHex(text: string): PrivateKey {
    const hex = text.trim();
    if (!HEX64.test(hex)) {
      throw new Error("a private key is 64 hexadecimal characters");
    }
    const secret = hexToBytes(hex.toLowerCase());
    if (!secp.utils.isValidSecretKey(secret)) {
      throw new Error("this is not a valid secp256k1 private key");
    }
    return new PrivateKey(secret);
  }

  /** The 130-hex-character recoverable signature of `text` (a base64 payload). */
  sign(text: string): string {
    const digest = sha3_256(utf8ToBytes(text));
    const bytes = secp.sign(digest, this.#secret, { prehash: false, format: "recovered", lowS: true });
    const sig = secp.Signature.fromBytes(bytes, "recovered");
    const recovery = sig.recovery ?? 0;
    return hex32(sig.r) + hex32(sig.s) + recovery.toString(16).padStart(2, "0");
  }
}

function hex32(n: bigint): string {
  return n.toString(16).padStart(64, "0");
}

/** Standard base64 (with padding) of UTF-8 text. */
export function base64Encode(text: string): string {
  const bytes = utf8ToBytes(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** UTF-8 text of standard base64. */
export function base64Decode(b64: string): string {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

export function isPrivateKeyText(text: string): boolean {
  return HEX64.test(text.trim());
}
