/**
 * Persistent state in SQLite (better-sqlite3): keys and aliases. WAL mode with synchronous=FULL,
 * so a write that was acknowledged survives `kill -9` (and power loss, as far as fsync goes).
 * Key material is encrypted at rest with AES-256-GCM under a 32-byte master key kept in
 * `<data-dir>/master.key` (created on first start with mode 0600; refused if group/other can read
 * it), with the key ID as additional data so rows cannot be swapped. `:memory:` mode keeps
 * everything in memory with a random master key (tests).
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync, fsyncSync, constants as fsc } from 'node:fs'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { KmsLocalError } from './errors.js'

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion'

/** A key's metadata (everything but the material). */
export interface KeyRecord {
  id: string
  account: string
  region: string
  created: number
  state: KeyState
  description: string
  usage: string
  spec: string
  origin: string
  policy: string
  deletionDate: number | null
  pendingWindowDays: number | null
  materialId: string
  tags: { TagKey: string; TagValue: string }[]
}

export interface AliasRecord {
  account: string
  region: string
  name: string
  keyId: string
  created: number
  updated: number
}

const MATERIAL_AAD = 'nitro-recipient kms-local key material v1\0'
const CHECK_PLAINTEXT = Buffer.from('nitro-recipient kms-local master key check v1')

interface KeyRow {
  id: string
  account: string
  region: string
  created: number
  state: string
  description: string
  usage: string
  spec: string
  origin: string
  policy: string
  deletion_date: number | null
  pending_window: number | null
  material_id: string
  tags: string
}

/** The store. All methods are synchronous (better-sqlite3); callers run them on the event loop. */
export class Store {
  readonly db: Database.Database
  readonly #masterKey: Buffer

  private constructor(db: Database.Database, masterKey: Buffer) {
    this.db = db
    this.#masterKey = masterKey
    db.pragma('foreign_keys = ON')
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, created REAL NOT NULL,
        state TEXT NOT NULL, description TEXT NOT NULL, usage TEXT NOT NULL, spec TEXT NOT NULL,
        origin TEXT NOT NULL, policy TEXT NOT NULL, deletion_date REAL, pending_window INTEGER,
        material BLOB NOT NULL, material_id TEXT NOT NULL, tags TEXT NOT NULL) STRICT;
      CREATE INDEX IF NOT EXISTS keys_account ON keys (account, region, id);
      CREATE TABLE IF NOT EXISTS aliases (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
        created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (account, region, name)) STRICT;
    `)
    const check = db.prepare('SELECT v FROM meta WHERE k = ?').get('master_check') as { v: Buffer } | undefined
    if (check === undefined) {
      db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run('master_check', this.#seal('meta', CHECK_PLAINTEXT))
    } else {
      let ok = false
      try {
        ok = this.#open('meta', check.v).equals(CHECK_PLAINTEXT)
      } catch {
        ok = false
      }
      if (!ok) throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', 'the master key does not match this database')
    }
  }

  /** An in-memory store with a random master key (nothing survives the process). */
  static memory(): Store {
    const db = new Database(':memory:')
    return new Store(db, randomBytes(32))
  }

  /**
   * Opens (creating on first start) the store in `dir`: `kms-local.sqlite` and `master.key`.
   * @throws {KmsLocalError} ERR_KMS_LOCAL_MASTER_KEY when the master key file is unsafe or wrong
   */
  static open(dir: string): Store {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
    } catch (e) {
      throw new KmsLocalError('ERR_KMS_LOCAL_STORE', `cannot create the data directory ${dir}: ${(e as Error).message}`, { cause: e })
    }
    const masterKey = loadOrCreateMasterKey(join(dir, 'master.key'))
    let db: Database.Database
    try {
      db = new Database(join(dir, 'kms-local.sqlite'))
      db.pragma('journal_mode = WAL')
      // FULL: fsync the WAL on every commit, so acknowledged writes survive kill -9 and power loss.
      db.pragma('synchronous = FULL')
      db.pragma('busy_timeout = 5000')
    } catch (e) {
      masterKey.fill(0)
      throw new KmsLocalError('ERR_KMS_LOCAL_STORE', `cannot open the database in ${dir}: ${(e as Error).message}`, { cause: e })
    }
    try {
      return new Store(db, masterKey)
    } catch (e) {
      db.close()
      masterKey.fill(0)
      throw e
    }
  }

  close(): void {
    this.db.close()
    this.#masterKey.fill(0)
  }

  #seal(id: string, plaintext: Buffer): Buffer {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.#masterKey, iv)
    c.setAAD(Buffer.from(MATERIAL_AAD + id))
    const ct = Buffer.concat([c.update(plaintext), c.final()])
    return Buffer.concat([iv, c.getAuthTag(), ct])
  }

  #open(id: string, sealed: Buffer): Buffer {
    if (sealed.length < 28) throw new KmsLocalError('ERR_KMS_LOCAL_STORE', 'stored key material is truncated')
    const d = createDecipheriv('aes-256-gcm', this.#masterKey, sealed.subarray(0, 12))
    d.setAAD(Buffer.from(MATERIAL_AAD + id))
    d.setAuthTag(sealed.subarray(12, 28))
    return Buffer.concat([d.update(sealed.subarray(28)), d.final()])
  }

  insertKey(rec: KeyRecord, material: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO keys (id, account, region, created, state, description, usage, spec, origin, policy,
          deletion_date, pending_window, material, material_id, tags)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        rec.id, rec.account, rec.region, rec.created, rec.state, rec.description, rec.usage, rec.spec, rec.origin,
        rec.policy, rec.deletionDate, rec.pendingWindowDays, this.#seal(rec.id, material), rec.materialId, JSON.stringify(rec.tags),
      )
  }

  getKey(id: string): KeyRecord | undefined {
    const row = this.db.prepare('SELECT * FROM keys WHERE id = ?').get(id) as KeyRow | undefined
    return row && toRecord(row)
  }

  /** Decrypted key material; the caller zeroes it after use. */
  material(id: string): Buffer {
    const row = this.db.prepare('SELECT material FROM keys WHERE id = ?').get(id) as { material: Buffer } | undefined
    if (row === undefined) throw new KmsLocalError('ERR_KMS_LOCAL_STORE', 'key material not found')
    try {
      return this.#open(id, row.material)
    } catch (e) {
      throw new KmsLocalError('ERR_KMS_LOCAL_STORE', 'stored key material failed authentication', { cause: e })
    }
  }

  listKeys(account: string, region: string, after: string | null, limit: number): KeyRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM keys WHERE account = ? AND region = ? AND id > ? ORDER BY id LIMIT ?')
      .all(account, region, after ?? '', limit) as KeyRow[]
    return rows.map(toRecord)
  }

  updateKey(id: string, fields: Partial<Pick<KeyRecord, 'state' | 'policy' | 'deletionDate' | 'pendingWindowDays'>>): void {
    const cols: string[] = []
    const vals: (string | number | null)[] = []
    const columns: [keyof typeof fields, string][] = [
      ['state', 'state'],
      ['policy', 'policy'],
      ['deletionDate', 'deletion_date'],
      ['pendingWindowDays', 'pending_window'],
    ]
    for (const [field, column] of columns) {
      if (fields[field] !== undefined) {
        cols.push(`${column} = ?`)
        vals.push(fields[field])
      }
    }
    if (cols.length === 0) return
    this.db.prepare(`UPDATE keys SET ${cols.join(', ')} WHERE id = ?`).run(...vals, id)
  }

  /** Deletes keys whose pending-deletion window has passed (and, by cascade, their aliases). */
  purgeDeleted(nowSeconds: number): number {
    return this.db.prepare("DELETE FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ?").run(nowSeconds).changes
  }

  getAlias(account: string, region: string, name: string): AliasRecord | undefined {
    const row = this.db.prepare('SELECT * FROM aliases WHERE account = ? AND region = ? AND name = ?').get(account, region, name) as
      | { account: string; region: string; name: string; key_id: string; created: number; updated: number }
      | undefined
    return row && { account: row.account, region: row.region, name: row.name, keyId: row.key_id, created: row.created, updated: row.updated }
  }

  /** Inserts an alias; false when the name is taken. */
  insertAlias(a: AliasRecord): boolean {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO aliases (account, region, name, key_id, created, updated) VALUES (?, ?, ?, ?, ?, ?)')
      .run(a.account, a.region, a.name, a.keyId, a.created, a.updated)
    return r.changes === 1
  }

  deleteAlias(account: string, region: string, name: string): boolean {
    return this.db.prepare('DELETE FROM aliases WHERE account = ? AND region = ? AND name = ?').run(account, region, name).changes === 1
  }

  listAliases(account: string, region: string, keyId: string | null, after: string | null, limit: number): AliasRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM aliases WHERE account = ? AND region = ? AND (? IS NULL OR key_id = ?) AND name > ? ORDER BY name LIMIT ?`,
      )
      .all(account, region, keyId, keyId, after ?? '', limit) as { account: string; region: string; name: string; key_id: string; created: number; updated: number }[]
    return rows.map((row) => ({ account: row.account, region: row.region, name: row.name, keyId: row.key_id, created: row.created, updated: row.updated }))
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }
}

function toRecord(r: KeyRow): KeyRecord {
  return {
    id: r.id,
    account: r.account,
    region: r.region,
    created: r.created,
    state: r.state as KeyState,
    description: r.description,
    usage: r.usage,
    spec: r.spec,
    origin: r.origin,
    policy: r.policy,
    deletionDate: r.deletion_date,
    pendingWindowDays: r.pending_window,
    materialId: r.material_id,
    tags: JSON.parse(r.tags) as KeyRecord['tags'],
  }
}

/** Reads the master key, or creates it (O_EXCL, mode 0600, fsync) on first start. */
function loadOrCreateMasterKey(path: string): Buffer {
  let fd: number
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `cannot create ${path}: ${(e as Error).message}`, { cause: e })
    }
    // EEXIST also covers a dangling symlink, which the open then cannot follow. One descriptor is
    // checked and read (O_NONBLOCK: a FIFO cannot block the open), whatever happens to the path.
    const unreadable = (e2: unknown): never => {
      throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `cannot read ${path}: ${(e2 as Error).message}`, { cause: e2 })
    }
    let rfd: number
    try {
      rfd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK)
    } catch (e2) {
      return unreadable(e2)
    }
    const key = Buffer.alloc(33)
    let n: number
    try {
      const st = fstatSync(rfd)
      if (!st.isFile()) throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `${path} is not a regular file`)
      if ((st.mode & 0o077) !== 0) {
        throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`)
      }
      n = readSync(rfd, key, 0, key.length, 0)
    } catch (e2) {
      key.fill(0)
      if (e2 instanceof KmsLocalError) throw e2
      return unreadable(e2)
    } finally {
      closeSync(rfd)
    }
    if (n !== 32) {
      key.fill(0)
      throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `${path} must hold exactly 32 bytes`)
    }
    return key.subarray(0, 32)
  }
  try {
    const key = randomBytes(32)
    writeSync(fd, key)
    fsyncSync(fd)
    if ((fstatSync(fd).mode & 0o077) !== 0) throw new KmsLocalError('ERR_KMS_LOCAL_MASTER_KEY', `${path} was created with a permissive mode`)
    // The directory entry must be durable too, or a crash could keep the database and lose its key.
    const dirFd = openSync(dirname(path), 'r')
    try {
      fsyncSync(dirFd)
    } finally {
      closeSync(dirFd)
    }
    return key
  } finally {
    closeSync(fd)
  }
}
