import { createHash, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";

/** A fresh key pair in the formats OpenSSH and ssh2 read. */
export interface SshKeyPair {
  /** "-----BEGIN OPENSSH PRIVATE KEY-----" PEM, unencrypted. Store it as a secret. */
  privateKey: string;
  /** One authorized_keys line: "ssh-ed25519 AAAA... comment". */
  publicKey: string;
}

/** DER of an ed25519 PKCS#8 private key before its 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** DER of an ed25519 SubjectPublicKeyInfo before its 32-byte key (RFC 8410). */
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * Generates an ed25519 key pair; comment ends the public key line (e.g. "dockfleet@stack").
 * Encoded here rather than by ssh2's utils.generateKeyPairSync, which drops a leading zero byte
 * of the public key (about one key in 256 comes out malformed). The key is made from a random
 * seed, not with generateKeyPairSync: Node 20 can deadlock when a key-generation job is collected
 * while a key is exported as JWK (a test making 2,000 keys hung with its main thread in
 * ~KeyGenJob under ExportJWK).
 */
export function generateSshKeyPair(comment: string): SshKeyPair {
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(SPKI_ED25519_PREFIX)) {
    throw new Error("node:crypto returned an ed25519 public key of unexpected form");
  }
  const rawPublic = spki.subarray(12);
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(rawPublic)]);
  const line = `ssh-ed25519 ${publicBlob.toString("base64")}`;
  return {
    privateKey: renderOpenSshPrivateKey(publicBlob, rawPublic, seed, comment),
    publicKey: comment ? `${line} ${comment}` : line,
  };
}

/** The "openssh-key-v1" format of ssh-keygen (PROTOCOL.key), unencrypted. */
function renderOpenSshPrivateKey(
  publicBlob: Buffer,
  rawPublic: Buffer,
  seed: Buffer,
  comment: string,
): string {
  const check = randomBytes(4);
  const unpadded = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(rawPublic),
    sshString(Buffer.concat([seed, rawPublic])),
    sshString(comment),
  ]);
  const paddingLength = (8 - (unpadded.length % 8)) % 8;
  const padding = Buffer.from(Array.from({ length: paddingLength }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([unpadded, padding])),
  ]);
  const base64Lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    ...base64Lines,
    "-----END OPENSSH PRIVATE KEY-----",
    "",
  ].join("\n");
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

/** A public key split into its algorithm name and wire-format blob. */
export interface OpenSshPublicKey {
  /** e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa". */
  type: string;
  /** The key in SSH wire format: what a server presents during key exchange. */
  blob: Buffer;
}

/**
 * Parses "type base64 [comment]" (an authorized_keys or known_hosts-style line, without options).
 * Throws an error quoting the line when it is not one.
 */
export function parseOpenSshPublicKey(line: string): OpenSshPublicKey {
  const [type, base64] = line.trim().split(/\s+/);
  const blob = base64 && /^[A-Za-z0-9+/]+=*$/.test(base64) ? Buffer.from(base64, "base64") : null;
  const embeddedType = blob ? readSshString(blob) : undefined;
  if (!type || !blob || embeddedType !== type) {
    throw new Error(
      `not an OpenSSH public key line: ${JSON.stringify(line.slice(0, 80))}; ` +
        'expected "ssh-ed25519 AAAA..." as printed by `ssh-keyscan` or found in *.pub files',
    );
  }
  return { type, blob };
}

/** The OpenSSH line ("type base64") for a key blob as a server presents it. */
export function formatOpenSshPublicKey(blob: Buffer): string {
  const type = readSshString(blob);
  if (type === undefined) {
    throw new Error(`not an SSH public key blob (${blob.length} bytes)`);
  }
  return `${type} ${blob.toString("base64")}`;
}

/** "SHA256:..." as `ssh-keygen -lf` prints it, for an OpenSSH public key line. */
export function fingerprintSha256(openSshPublicKeyLine: string): string {
  return fingerprintOfBlob(parseOpenSshPublicKey(openSshPublicKeyLine).blob);
}

export function fingerprintOfBlob(blob: Buffer): string {
  const digest = createHash("sha256").update(blob).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The first length-prefixed string in an SSH wire blob: the key type. */
function readSshString(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  const value = blob.subarray(4, 4 + length).toString("latin1");
  return /^[a-z0-9@.-]+$/.test(value) ? value : undefined;
}
