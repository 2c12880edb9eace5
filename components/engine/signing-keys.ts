import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Docker's published package signing keys, shipped with dockfleet: a docker-ce mirror serves
 * packages, never the key that decides whether they are genuine. Each key file must hold exactly
 * one primary key, the one with the fingerprint Docker publishes (an extra key appended to the
 * file would otherwise be trusted too).
 */
export const DOCKER_CE_SIGNING_KEYS = {
  /** "Docker Release (CE deb)", signing the apt repositories. */
  deb: { file: "docker-ce-deb.asc", fingerprint: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88" },
  /** "Docker Release (CE rpm)", signing the rpm packages. */
  rpm: { file: "docker-ce-rpm.asc", fingerprint: "060A61C51B558A7F742B77AAC52FEB6B621E9F35" },
} as const;

/** Pure: the binary packets of an ASCII-armored OpenPGP block (the armor checksum is checked). */
function dearmor(armored: string): Buffer {
  const lines = armored.replace(/\r/g, "").split("\n");
  const begin = lines.findIndex((line) => /^-----BEGIN PGP PUBLIC KEY BLOCK-----$/.test(line));
  const end = lines.findIndex((line) => /^-----END PGP PUBLIC KEY BLOCK-----$/.test(line));
  if (begin < 0 || end < begin) throw new Error("not an ASCII-armored OpenPGP public key block");
  const body = lines.slice(begin + 1, end);
  const blank = body.findIndex((line) => line.trim() === "");
  const data = body.slice(blank + 1).filter((line) => line.trim() !== "");
  const checksum = data.at(-1)?.startsWith("=") ? data.pop()?.slice(1) : undefined;
  const bytes = Buffer.from(data.join(""), "base64");
  if (checksum !== undefined && crc24(bytes).toString("base64") !== checksum) {
    throw new Error("the armor checksum does not match: the key text is damaged");
  }
  return bytes;
}

/** RFC 4880 6.1's CRC-24, as the 3 bytes the armor's checksum line encodes. */
function crc24(bytes: Buffer): Buffer {
  let crc = 0xb704ce;
  for (const byte of bytes) {
    crc ^= byte << 16;
    for (let bit = 0; bit < 8; bit++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]);
}

/** Pure: the (tag, body) packets of binary OpenPGP data (RFC 4880 4.2; no partial lengths). */
function packets(bytes: Buffer): { tag: number; body: Buffer }[] {
  const found: { tag: number; body: Buffer }[] = [];
  let at = 0;
  while (at < bytes.length) {
    const header = bytes[at];
    if ((header & 0x80) === 0) throw new Error(`not an OpenPGP packet at byte ${at}`);
    let tag: number;
    let length: number;
    if (header & 0x40) {
      tag = header & 0x3f;
      const first = bytes[at + 1];
      if (first < 192) [length, at] = [first, at + 2];
      else if (first < 224) [length, at] = [((first - 192) << 8) + bytes[at + 2] + 192, at + 3];
      else if (first === 255) [length, at] = [bytes.readUInt32BE(at + 2), at + 6];
      else throw new Error("partial-length packets do not occur in a public key");
    } else {
      tag = (header >> 2) & 0x0f;
      const size = [1, 2, 4][header & 0x03];
      if (size === undefined) throw new Error("indeterminate-length packets do not occur in a key");
      length = bytes.readUIntBE(at + 1, size);
      at += 1 + size;
    }
    if (at + length > bytes.length) throw new Error("a packet runs past the end of the key");
    found.push({ tag, body: bytes.subarray(at, at + length) });
    at += length;
  }
  return found;
}

/**
 * Pure: the v4 fingerprints (40 upper-case hex digits) of the primary keys in an armored block,
 * in order: SHA-1 over 0x99, the two-byte length and the public key packet (RFC 4880 12.2).
 */
export function primaryKeyFingerprints(armored: string): string[] {
  return packets(dearmor(armored))
    .filter((packet) => packet.tag === 6)
    .map(({ body }) => {
      if (body[0] !== 4) throw new Error(`a version ${body[0]} key: only version 4 is known here`);
      const prefix = Buffer.from([0x99, body.length >> 8, body.length & 0xff]);
      return createHash("sha1").update(prefix).update(body).digest("hex").toUpperCase();
    });
}

/** Pure: the armored key unchanged when it is the one key with `fingerprint`; throws otherwise. */
export function checkSigningKey(armored: string, fingerprint: string, source: string): string {
  const found = primaryKeyFingerprints(armored);
  if (found.length !== 1 || found[0] !== fingerprint) {
    throw new Error(
      `${source} must hold exactly the key ${fingerprint}; it holds ${found.join(", ") || "none"}`,
    );
  }
  return armored;
}

/** The shipped key for a package family, checked against its pinned fingerprint. */
export function dockerCeSigningKey(family: keyof typeof DOCKER_CE_SIGNING_KEYS): string {
  const { file, fingerprint } = DOCKER_CE_SIGNING_KEYS[family];
  const keyPath = path.join(__dirname, "scripts", file);
  return checkSigningKey(fs.readFileSync(keyPath, "utf8"), fingerprint, keyPath);
}
