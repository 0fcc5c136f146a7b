/* Unknot storage and outbox: one copy shared by the page and the service worker.
 *
 * Written as a classic script with no import/export so that both can load it:
 * the service worker with importScripts('/js/core.js'), the page's modules with
 * `import './core.js'`. It defines globalThis.unknotCore.
 *
 * IndexedDB "unknot":
 *   kv       key -> value: token, patient, lang, plan:<lang>, ...; after a removal only the
 *            phone's settings (lang, sound, shell_lang: the language its pages last loaded, which
 *            sw.js precaches) and revoked: {unsent, expired} (see forgetPatient)
 *   records  completions and check-ins by client UUID:
 *            {id, type: "completion"|"checkin", state: "pending"|"sent"|"rejected",
 *             ready_at (ms; not sent before), tried?, error?, code?, body: <what the server takes>}
 *            tried: a request carried it and no answer came back (lost on the way back, a 5xx):
 *            the clinic may hold it already, so it is never taken back or changed, only sent again
 *            (unless an answer proves nothing was stored: see clearTried).
 *            error: why the server refused it (kept when it is tried again); code: the same in
 *            the server's word for it (in_the_future, ...; none from an older server), which the
 *            More screen words in the patient's language.
 *            and fill-ins: a pain answer given after its completion left the phone, sent as a
 *            repeat of that completion with the pain (the server fills in a blank pain, once):
 *            {id: "fill:<completion id>", type: "fill", state: "pending"|"rejected", ready_at,
 *             body: <the completion's body with the pain>}. At most one per completion; it is
 *            deleted once the server holds it, its pain then kept in the completion.
 *            and take-backs: a completion taken back after it left the phone (or may have), sent as
 *            a repeat of it with withdrawn_at (the server marks it withdrawn, once, whichever of
 *            the two it gets first): {id: "undo:<completion id>", type: "undo", state, ready_at: 0,
 *            body: <the completion's body with withdrawn_at>}. Deleted once the server holds it,
 *            its withdrawn_at then kept in the completion's body. A completion with either counts
 *            nowhere (see withdrawn); it stays stored, so a copy of it from the server's log or
 *            another tab is known for what it is. Ticking the exercise again is a new completion.
 *
 * A record (a fill-in too) never changes while it is on its way: senders take only records that
 * are not held back (ready_at passed) and keep the Web Lock "unknot-outbox" while the request is
 * out, so a change either holds that lock or finds the record held back (see setPain).
 */
(function (root) {
  "use strict";
  var DB_NAME = "unknot";
  var DB_VERSION = 1;
  var SYNC_URL = "/api/v1/patient/sync";
  var MAX = { completion: 500, checkin: 100 };
  // A batch's encoded size: far below the server's default body limit (256 KiB, max_body_bytes in
  // server/settings.py) and small enough to go as a keepalive request (64 KiB) as the page closes.
  // One record is at most about 11 KB (a 500-character note and 20 red flags, every character
  // escaped), so a record always fits; on a 413 anyway (a lower limit somewhere) batches halve.
  var MAX_BATCH_BYTES = 56 * 1024;
  // The byte bound last found the server (or a proxy) to take. A lower one learned from a 413 is
  // kept in storage for a day, for the pages and the worker alike and across restarts (each would
  // otherwise pay one refused send to learn it again); after that, full batches are tried again.
  var batchBytes = MAX_BATCH_BYTES;
  var LIMIT_KEY = "batch_limit";
  var LIMIT_KEEP_MS = 24 * 60 * 60 * 1000;
  var dbPromise = null;

  function req(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var r = indexedDB.open(DB_NAME, DB_VERSION);
        r.onupgradeneeded = function () {
          var db = r.result;
          if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
          if (!db.objectStoreNames.contains("records")) db.createObjectStore("records", { keyPath: "id" });
        };
        r.onsuccess = function () {
          var db = r.result;
          // Another tab upgrading the schema: let it, and reopen next time.
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        r.onerror = function () { dbPromise = null; reject(r.error); };
      });
    }
    return dbPromise;
  }

  /* This phone's storage failing in a page: IndexedDB missing or not opening (some private modes),
   * or refusing writes (storage full, a broken database). The rest of the visit then runs on a
   * copy in memory, made from what IndexedDB still reads, so the patient can join, see the plan
   * and send what they log; nothing written from then on outlives the page (see volatile). The
   * worker keeps failing as before: its copy would drift from the page's. */
  var memory = null;
  // The device token IndexedDB held when the page switched to memory: a reload reads it again.
  var lastingToken = null;

  function brokenStorage(err) {
    return Boolean(root.document) && Boolean(err) && (err.name === "QuotaExceededError" || err.name === "UnknownError");
  }

  // Everything stored is JSON data (records, plans, settings).
  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  /* Switch to memory (once), copying what `db` (null: none opened) still reads. */
  function toMemory(db) {
    if (!memory) {
      var read = db ? new Promise(function (resolve, reject) {
        var t = db.transaction(["kv", "records"], "readonly");
        var kv = t.objectStore("kv");
        var found = [req(kv.getAllKeys()), req(kv.getAll()), req(t.objectStore("records").getAll())];
        Promise.all(found).then(resolve, reject);
      }) : Promise.reject(new Error("no database"));
      memory = read.catch(function () { return [[], [], []]; }).then(function (found) {
        var kv = new Map();
        var records = new Map();
        found[0].forEach(function (key, i) { kv.set(key, found[1][i]); });
        found[2].forEach(function (r) { records.set(r.id, r); });
        lastingToken = kv.get("token") || null;
        return { kv: kv, records: records };
      });
    }
    return memory;
  }

  /* A request answered from memory as IndexedDB answers: after the caller set its onsuccess. */
  function answered(result) {
    var r = {};
    Promise.resolve().then(function () { r.result = result; if (r.onsuccess) r.onsuccess(); });
    return r;
  }

  function memoryStore(map, keyPath) {
    return {
      get: function (key) { return answered(clone(map.get(key))); },
      getAll: function () { return answered(Array.from(map.values(), clone)); },
      getAllKeys: function () { return answered(Array.from(map.keys())); },
      put: function (value, key) { map.set(keyPath ? value[keyPath] : key, clone(value)); },
      delete: function (key) { map.delete(key); },
      clear: function () { map.clear(); },
    };
  }

  var memoryTurn = Promise.resolve();

  /* tx() on the copy in memory: one at a time, all or nothing, as transactions are. */
  function memoryTx(work) {
    var turn = memoryTurn.then(function () { return memory; }).then(function (stores) {
      var before = { kv: new Map(stores.kv), records: new Map(stores.records) };
      var t = {
        objectStore: function (name) { return memoryStore(stores[name], name === "records" ? "id" : null); },
      };
      return Promise.resolve().then(function () { return work(t); }).catch(function (err) {
        stores.kv = before.kv;
        stores.records = before.records;
        throw err;
      });
    });
    memoryTurn = turn.catch(function () {});
    return turn;
  }

  /** Whether this page keeps its data in memory only (see memory): what it holds is gone when
   *  it closes. */
  function volatile() {
    return Boolean(memory);
  }

  /** Whether `token` outlives this page. One kept in memory only (joined since the switch, or
   *  IndexedDB never held one) is gone when the page closes or reloads, and its invite code is
   *  used up: the phone is disconnected. */
  function tokenLasts(token) {
    return !memory || (lastingToken !== null && lastingToken === token);
  }

  function tx(stores, mode, work) {
    if (memory) return memoryTx(work);
    return open().then(function (db) {
      return idbTx(db, stores, mode, work).catch(function (err) {
        if (!brokenStorage(err)) throw err;
        return toMemory(db).then(function () { return memoryTx(work); });
      });
    }, function (err) {
      if (!root.document) throw err;
      return toMemory(null).then(function () { return memoryTx(work); });
    });
  }

  function idbTx(db, stores, mode, work) {
    return new Promise(function (resolve, reject) {
      var t = db.transaction(stores, mode);
      var result;
      t.oncomplete = function () { resolve(result); };
      t.onerror = function () { reject(t.error); };
      t.onabort = function () { reject(t.error || new Error("transaction aborted")); };
      Promise.resolve(work(t)).then(function (value) { result = value; }, function (err) {
        try { t.abort(); } catch (e) { /* already finished */ }
        reject(err);
      });
    });
  }

  function get(key) {
    return tx(["kv"], "readonly", function (t) { return req(t.objectStore("kv").get(key)); });
  }

  function set(key, value) {
    return tx(["kv"], "readwrite", function (t) { t.objectStore("kv").put(value, key); });
  }

  /* Store kv entries ({key: value}) fetched with `token`, only while it is still this phone's
   * token, in one transaction: an answer arriving while the patient is being forgotten (a 401
   * elsewhere, forgetPatient) must not write their data back after it. Resolves true if stored. */
  function setForToken(token, entries) {
    return tx(["kv"], "readwrite", function (t) {
      var kv = t.objectStore("kv");
      return req(kv.get("token")).then(function (stored) {
        if (!token || stored !== token) return false;
        Object.keys(entries).forEach(function (key) { kv.put(entries[key], key); });
        return true;
      });
    });
  }

  function del(key) {
    return tx(["kv"], "readwrite", function (t) { t.objectStore("kv").delete(key); });
  }

  function allRecords() {
    return tx(["records"], "readonly", function (t) { return req(t.objectStore("records").getAll()); });
  }

  function getRecord(id) {
    return tx(["records"], "readonly", function (t) { return req(t.objectStore("records").get(id)); });
  }

  function putRecord(record) {
    return tx(["records"], "readwrite", function (t) { t.objectStore("records").put(record); });
  }

  function fillId(id) {
    return "fill:" + id;
  }

  function undoId(id) {
    return "undo:" + id;
  }

  /* The ids of the completions among `records` that are taken back (withdrawn_at stored with it,
   * or its take-back waiting to be sent): they count nowhere. */
  function withdrawn(records) {
    var ids = {};
    records.forEach(function (r) {
      if (r.type === "undo" && r.state !== "rejected") ids[r.body.id] = true;
      else if (r.type === "completion" && r.body.withdrawn_at) ids[r.id] = true;
    });
    return ids;
  }

  /* Take back completion `id`, which has left the phone or may have (or may be on its way): its
   * take-back goes into the outbox as a new record (so no lock is needed: nothing on its way
   * changes), at `at` (ISO time). Answers "taken_back" (also when it already was), "rejected"
   * (the server refused the completion: nothing to take back there) or "gone". */
  function withdraw(id, at) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all([req(store.get(id)), req(store.get(undoId(id)))]).then(function (found) {
        var record = found[0];
        if (!record || record.type !== "completion") return "gone";
        if (record.state === "rejected") return "rejected";
        if (record.body.withdrawn_at || (found[1] && found[1].state !== "rejected")) return "taken_back";
        var body = Object.assign({}, record.body, { withdrawn_at: at });
        store.put({ id: undoId(id), type: "undo", state: "pending", ready_at: 0, body: body });
        return "taken_back";
      });
    });
  }

  function blank(pain) {
    return pain === undefined || pain === null;
  }

  /* Let go of records held back for the pain question: those of completion `id` and its fill-in,
   * or every one (the page that held them is leaving). Safe without the lock: only ready_at
   * changes, and a record on its way is no longer held. */
  function releaseHolds(id) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      var found = id === undefined ? req(store.getAll())
        : Promise.all([req(store.get(id)), req(store.get(fillId(id)))]);
      return found.then(function (all) {
        var n = 0;
        all.forEach(function (r) {
          if (r && r.state === "pending" && r.ready_at) { r.ready_at = 0; store.put(r); n += 1; }
        });
        return n;
      });
    });
  }

  /* Give completion `id` the pain answer `pain`, in one transaction. Answers {outcome, pain}:
   *   ok         put into the record, which waits on the phone until holdUntil
   *   added      the record has left the phone (or may be on its way) without a pain answer: the
   *              answer waits in its fill-in until holdUntil, then goes as a repeat of the record
   *   sent       the clinic has the pain answer `pain` and keeps the first: no change can follow
   *   sending    the pain answer `pain` may be on its way: the same
   *   wait       it waits on the phone, maybe on its way: ask again holding the outbox lock
   *              (options.locked) or, when the wait for it ran out, with options.waited
   *   rejected   the server refused the record; gone: no such record
   * A record (or fill-in) is changed only when it cannot be on its way: while it is held back (no
   * sender takes it: a hold is set at its start or under the lock, and only extended while it
   * lasts) or under the lock, and never while options.leaving (a Set) has its id: being sent from
   * memory as the page is hidden. A new fill-in is never on its way. */
  function setPain(id, pain, holdUntil, options) {
    options = options || {};
    var leaving = options.leaving || { has: function () { return false; } };
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all([req(store.get(id)), req(store.get(fillId(id)))]).then(function (found) {
        var record = found[0];
        var fill = found[1];
        if (!record || record.type !== "completion") return { outcome: "gone", pain: null };
        if (record.state === "rejected" || (fill && fill.state === "rejected")) {
          return { outcome: "rejected", pain: null };
        }
        // Once there, the fill-in carries the answer: its record has left the phone.
        var carrier = fill || record;
        // Went out without an answer: the clinic may hold it as it went, so it stays so, and the
        // new answer follows as a fill-in. The server answers a fill-in with the pain it keeps
        // (settle), so the phone ends up showing what the clinic has.
        var unsure = !fill && record.state === "pending" && Boolean(record.tried);
        var waiting = carrier.state === "pending" && !leaving.has(carrier.id) && !unsure;
        if (waiting && (carrier.ready_at > Date.now() || options.locked)) {
          carrier.body.pain = pain;
          carrier.ready_at = holdUntil;
          store.put(carrier);
          return { outcome: fill ? "added" : "ok", pain: pain };
        }
        if (waiting && !options.waited) return { outcome: "wait", pain: null };
        var kept = carrier.body.pain;
        if (blank(kept) || unsure) {
          var body = Object.assign({}, record.body, { pain: pain });
          store.put({ id: fillId(id), type: "fill", state: "pending", ready_at: holdUntil, body: body });
          return { outcome: "added", pain: pain };
        }
        return { outcome: carrier.state === "sent" ? "sent" : "sending", pain: kept };
      });
    });
  }

  /* Take back a completion that has not left the phone, with its fill-in (a fill-in sent on its
   * own would store the whole record). */
  function takeBack(id) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      store.delete(id);
      store.delete(fillId(id));
    });
  }

  /* Take back completion `id` if it is still held back (its ready_at to come) and never went out,
   * without the outbox lock: no sender takes a held record (a send reads the time before the
   * records), so however slow a send of other records is, it is not in it. `leaving` (a Set)
   * holds ids being sent from memory as the page is hidden. Resolves true if taken back. */
  function takeBackHeld(id, leaving) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return req(store.get(id)).then(function (r) {
        var held = r && r.state === "pending" && !r.tried && r.ready_at > Date.now();
        if (!held || (leaving && leaving.has(id))) return false;
        store.delete(id);
        store.delete(fillId(id));
        return true;
      });
    });
  }

  /* Stamp the records a request is about to carry as tried, before it goes: if its answer is
   * lost, they may be at the clinic, and must not be taken back or changed (a new mark would then
   * count the exercise twice). Only pending records not held back go out, so none changes here.
   * Resolves with the records this stamp is the first for (for clearTried). */
  function markTried(records) {
    var stamped = [];
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all(records.map(function (r) {
        r.tried = true;
        return req(store.get(r.id)).then(function (found) {
          if (found && found.state === "pending" && !found.tried) {
            found.tried = true;
            store.put(found);
            stamped.push(r);
          }
        });
      })).then(function () { return stamped; });
    });
  }

  /* A request's answer proves the server stored nothing it carried (a 413: the body was refused
   * whole; Unknot's own refusal of a record in it): the records whose stamp markTried set for
   * that request (what it resolved with) are as if they never left, and can be taken back or
   * changed again. An earlier request's stamp stays: that one may still have reached the clinic. */
  function clearTried(stamped) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all(stamped.map(function (r) {
        delete r.tried;
        return req(store.get(r.id)).then(function (found) {
          if (found && found.state === "pending" && found.tried) {
            delete found.tried;
            store.put(found);
          }
        });
      }));
    });
  }

  /* Send the refused records again (the patient fixed the phone's clock, or the server was wrong
   * to refuse): they are pending again, keeping their reason until answered. A completion whose
   * exercise was logged again since (another record for the same day and slot) stays refused:
   * sending both would count it twice. Resolves with how many go again. */
  function retryRejected() {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return req(store.getAll()).then(function (all) {
        var logged = {};
        function slotKey(r) { return r.body.on_date + "|" + r.body.slot + "|" + r.body.exercise_id; }
        var gone = withdrawn(all);
        all.forEach(function (r) {
          if (r.type === "completion" && r.state !== "rejected" && !gone[r.id]) logged[slotKey(r)] = true;
        });
        var n = 0;
        all.forEach(function (r) {
          if (r.state !== "rejected" || (r.type === "completion" && logged[slotKey(r)])) return;
          if (r.type === "completion") logged[slotKey(r)] = true;
          r.state = "pending";
          r.ready_at = 0;
          store.put(r);
          n += 1;
        });
        return n;
      });
    });
  }

  /* The server now holds record r, which went out as read (r.body). What the clinic holds is what
   * stays on the phone: `pains` (the server's answer, by completion id; older servers send none)
   * has the pain it keeps, which may not be the one sent (a stored pain never changes). Resolves
   * with 1 when it was waiting here (a fill-in always was), else 0. */
  function settle(store, r, pains, taken) {
    var known = pains && Object.prototype.hasOwnProperty.call(pains, r.body.id);
    var stored = known ? pains[r.body.id] : r.body.pain;
    if (r.type === "undo") {
      store.delete(r.id);
      return req(store.get(r.body.id)).then(function (found) {
        // The take-back stored the whole record, taken back, if the server had not seen it yet.
        var record = found || { id: r.body.id, type: "completion", ready_at: 0, body: r.body };
        record.state = "sent";
        delete record.tried;
        record.body = Object.assign({}, record.body, { withdrawn_at: record.body.withdrawn_at || r.body.withdrawn_at });
        if (known) record.body.pain = stored;
        store.put(record);
        return 1;
      });
    }
    if (r.type === "completion" && taken && taken[r.body.id] && !r.body.withdrawn_at) {
      // Taken back at the clinic already (from another phone): this phone learns it now, and the
      // time from the log (mergeSent) later.
      r = Object.assign({}, r, { body: Object.assign({}, r.body, { withdrawn_at: new Date().toISOString() }) });
    }
    if (r.type === "fill") {
      store.delete(r.id);
      return req(store.get(r.body.id)).then(function (found) {
        // The repeat stored the whole record if the server had not seen it yet.
        var record = found || { id: r.body.id, type: "completion", ready_at: 0, body: r.body };
        record.state = "sent";
        delete record.tried;
        if (known) record.body = Object.assign({}, record.body, { pain: stored });
        else if (blank(record.body.pain)) record.body.pain = r.body.pain;
        store.put(record);
        return 1;
      });
    }
    return req(store.get(r.id)).then(function (found) {
      var body = r.type === "completion" && known ? Object.assign({}, r.body, { pain: stored }) : r.body;
      if (found && found.state === "pending") {
        var given = found.body.pain;
        found.state = "sent";
        delete found.tried;
        found.body = body;
        store.put(found);
        // A pain answer that got in while this went out from another tab as it was hidden: the
        // clinic has none, so it follows as a fill-in (held as long as the answer was).
        if (r.type === "completion" && blank(stored) && !blank(given)) {
          var filled = Object.assign({}, body, { pain: given });
          store.put({ id: fillId(r.id), type: "fill", state: "pending", ready_at: found.ready_at || 0, body: filled });
        }
        return 1;
      }
      if (!found) {
        // Deleted while on its way (only without Web Locks): the clinic has it.
        store.put({ id: r.id, type: r.type, state: "sent", ready_at: 0, body: body });
      } else if (found.type === "completion" && known && found.body.pain !== stored) {
        // Sent from another tab with another pain than the one the clinic kept.
        found.body = Object.assign({}, found.body, { pain: stored });
        store.put(found);
      }
      return 0;
    });
  }

  /* Records sent (as read for the request) of which the server answered it holds `ids`, with the
   * pain it keeps for each completion (`pains`, by id; may be missing) and the completions it
   * holds as taken back (`withdrawnIds`; may be missing). */
  function markSent(records, ids, pains, withdrawnIds) {
    var held = {};
    var taken = {};
    ids.forEach(function (id) { held[id] = true; });
    (withdrawnIds || []).forEach(function (id) { taken[id] = true; });
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all(records.filter(function (r) { return held[r.body.id]; }).map(function (r) {
        return settle(store, r, pains, taken);
      })).then(function (counts) {
        return counts.reduce(function (a, b) { return a + b; }, 0);
      });
    });
  }

  /* The size of a text in UTF-8 bytes, as it goes over the wire. */
  function utf8Bytes(text) {
    if (root.TextEncoder) return new root.TextEncoder().encode(text).length;
    return unescape(encodeURIComponent(text)).length;
  }

  /* One request's worth of ready records: at most maxCompletions completions (fill-ins count as
   * completions) and maxCheckins check-ins, and at most maxBytes (default MAX_BATCH_BYTES) of
   * encoded records, but always at least one record; rest says how many wait for the next
   * request, bytes how big the batch is. A fill-in or take-back waits for the next one when its
   * completion (or another repeat of it) goes in this one: the server refuses an id twice in one
   * batch. */
  function batchOf(ready, maxCompletions, maxCheckins, maxBytes) {
    var limit = maxBytes || MAX_BATCH_BYTES;
    var going = {};
    ready.forEach(function (r) { if (r.type === "completion") going[r.id] = true; });
    var completions = ready.filter(function (r) {
      if (r.type === "completion") return true;
      if ((r.type !== "fill" && r.type !== "undo") || going[r.body.id]) return false;
      going[r.body.id] = true;
      return true;
    }).slice(0, maxCompletions);
    var checkins = ready.filter(function (r) { return r.type === "checkin"; }).slice(0, maxCheckins);
    // The wrapper {"completions":[],"checkins":[]} and one comma per record.
    var bytes = 32;
    function fits(r) {
      var size = utf8Bytes(JSON.stringify(r.body)) + 1;
      if (bytes > 32 && bytes + size > limit) return false;
      bytes += size;
      return true;
    }
    // Stop at the first record that does not fit: records keep their order across batches.
    var n = 0;
    while (n < completions.length && fits(completions[n])) n += 1;
    completions = completions.slice(0, n);
    var m = 0;
    while (m < checkins.length && fits(checkins[m])) m += 1;
    checkins = checkins.slice(0, m);
    return {
      completions: completions, checkins: checkins, bytes: bytes,
      rest: ready.length - completions.length - checkins.length,
    };
  }

  /* Records the server reported (GET /log), as the server holds them: a record waiting here is
   * settled as if this phone had sent it (a pain answer the clinic lacks follows as a fill-in).
   * Resolves with how many records it changed (0: nothing new, nothing to draw again). */
  function mergeSent(type, bodies, token) {
    return tx(["kv", "records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      // Fetched with `token` (if given): nothing is written once it is not this phone's any more.
      var still = token === undefined ? Promise.resolve(true)
        : req(t.objectStore("kv").get("token")).then(function (stored) { return stored === token; });
      return still.then(function (ok) { return ok ? Promise.all(bodies.map(function (body) {
        return req(store.get(body.id)).then(function (found) {
          if (found && found.state === "pending") return settle(store, { id: body.id, type: type, body: body });
          if (!found) store.put({ id: body.id, type: type, state: "sent", ready_at: 0, body: body });
          else if (found.state !== "sent") { found.state = "sent"; store.put(found); }
          else if (type === "completion" && body.withdrawn_at && found.body.withdrawn_at !== body.withdrawn_at) {
            // Taken back at the clinic (from this phone or another): the phone keeps the clinic's time.
            found.body = Object.assign({}, found.body, { withdrawn_at: body.withdrawn_at });
            store.put(found);
          }
          else if (type === "completion" && !blank(body.pain) && found.body.pain !== body.pain) {
            // The clinic keeps another pain answer than this phone shows (a change sent after
            // the first answer reached it): the phone shows the clinic's. A log without one is
            // older than the answer this phone has had acknowledged (a stored pain is never
            // cleared): read while the answer was on its way, it must not blank it here.
            found.body = Object.assign({}, found.body, { pain: body.pain });
            store.put(found);
          }
          else return 0;
          return 1;
        });
      })).then(function (changed) { return changed.reduce(function (a, b) { return a + b; }, 0); }) : 0; });
    });
  }

  function clearAll() {
    return tx(["kv", "records"], "readwrite", function (t) {
      t.objectStore("kv").clear();
      t.objectStore("records").clear();
    });
  }

  /* Settings of this phone, not of the person using it: kept when a patient is forgotten. */
  var DEVICE_KEYS = ["lang", "sound", "shell_lang"];

  /* The clinic removed this device (a 401 for `token`; `why` "expired" when it went unused too
   * long, see whyRemoved), or the patient was archived or erased:
   * forget everything of the patient on this phone, in one transaction: every kv entry but the
   * phone's settings (token, name, plans, push and reminder state) and every record. Unsent
   * records go too: their token can never send them again, and keeping them would leave someone's
   * health data on a phone that may be shared or handed on. They are counted, so the join screen
   * can say how many were lost and why (kv "revoked" = {unsent, expired}; nothing else about them
   * is kept; a marker left by the worker keeps its reason). A 401
   * for a token this phone no longer holds (a new join since) changes nothing: resolves null.
   * Else resolves with the "revoked" entry. */
  function forgetPatient(token, why) {
    return tx(["kv", "records"], "readwrite", function (t) {
      var kv = t.objectStore("kv");
      var records = t.objectStore("records");
      return Promise.all([req(kv.get("token")), req(kv.get("revoked")), req(kv.getAllKeys()), req(records.getAll())])
        .then(function (found) {
          var stored = found[0];
          if (stored && stored !== token) return null;
          var before = found[1] && typeof found[1].unsent === "number" ? found[1].unsent : 0;
          var expired = why === "expired" || Boolean(found[1] && found[1].expired);
          var marker = { unsent: before + perExercise(pending(found[3])).length, expired: expired };
          found[2].forEach(function (key) { if (DEVICE_KEYS.indexOf(key) < 0) kv.delete(key); });
          records.clear();
          kv.put(marker, "revoked");
          return marker;
        });
    });
  }

  /* Everything else the browser keeps for the patient, from the page or the worker: the cached API
   * answers (every "unknot-api-*" cache), shown notifications (they name slots and days) and the
   * push subscription (the server dropped it with the device, or does on the push service's
   * 404/410). Never throws. */
  function forgetBrowserData() {
    var registration = root.registration && root.registration.pushManager ? Promise.resolve(root.registration)
      : root.navigator && root.navigator.serviceWorker ? root.navigator.serviceWorker.getRegistration("/")
        : Promise.resolve(null);
    var pushGone = registration.then(function (reg) {
      if (!reg) return null;
      var shown = reg.getNotifications ? reg.getNotifications().then(function (all) {
        all.forEach(function (n) { n.close(); });
      }) : null;
      var sub = reg.pushManager ? reg.pushManager.getSubscription().then(function (s) {
        return s && s.unsubscribe();
      }) : null;
      return Promise.all([shown, sub]);
    });
    return Promise.all([clearApiCache(), pushGone.catch(function () {})]).then(function () {});
  }

  /* Delete the worker's cached API answers (every "unknot-api-*" cache, older versions' too).
   * Never rejects: with Cache Storage failing they stay, and forgetting the patient or joining
   * goes on all the same (sw.js never serves an answer to a token other than its own). */
  function clearApiCache() {
    var c = root.caches;
    if (!c) return Promise.resolve();
    return Promise.resolve().then(function () { return c.keys(); }).then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf("unknot-api-") === 0; })
        .map(function (n) { return c.delete(n); }));
    }).then(function () {}, function () {});
  }

  /* Records as the patient counts them: a fill-in (a late pain answer) or a take-back beside its
   * own completion, or beside each other, is that exercise's, not another one. */
  function perExercise(records) {
    var ids = {};
    records.forEach(function (r) { if (r.type !== "fill" && r.type !== "undo") ids[r.id] = true; });
    return records.filter(function (r) {
      if (r.type !== "fill" && r.type !== "undo") return true;
      if (ids[r.body.id]) return false;
      ids[r.body.id] = true;
      return true;
    });
  }

  function pending(records) {
    return records.filter(function (r) { return r.state === "pending"; });
  }

  function announce(message) {
    try {
      var channel = new BroadcastChannel("unknot");
      channel.postMessage(message);
      channel.close();
    } catch (e) { /* no BroadcastChannel: other tabs refresh on focus */ }
  }

  /* Whether an answer's 401 is Unknot's own (the clinic removed this device, or archived or erased
   * the patient), from its status, Content-Type and parsed body. A captive portal or a misconfigured
   * proxy can answer 401 too, with a page of its own: taking that for a removal would delete the
   * patient's unsent records, so only the server's JSON error ({status: 401, detail}) counts. The
   * one test every caller uses (isRemoval below, api.js, sw.js). */
  function jsonType(contentType) {
    return /^application\/json\s*(;|$)/i.test(contentType || "");
  }

  function removalBody(status, contentType, body) {
    return status === 401 && jsonType(contentType)
      && Boolean(body) && typeof body === "object" && body.status === 401 && typeof body.detail === "string";
  }

  /* Why Unknot's 401 refused the device: "expired" (not used for a long time, the server's code
   * device_expired) or "removed" (any other, an older server's too). */
  function whyRemoved(body) {
    return body && body.code === "device_expired" ? "expired" : "removed";
  }

  /* The same for a fetch Response, read from a clone (the caller may still read the body):
   * resolves with whyRemoved, or false for anything else or unreadable. */
  function isRemoval(res) {
    if (!res || res.status !== 401) return Promise.resolve(false);
    var type = res.headers.get("Content-Type");
    if (!jsonType(type)) return Promise.resolve(false);
    return res.clone().json().then(function (body) {
      return removalBody(res.status, type, body) && whyRemoved(body);
    }, function () { return false; });
  }

  /* The index and field a 4xx names, e.g. "completions[3].on_date" -> {list, index}, with the
   * server's message and code (why, in a word that stays the same; null from an older server). */
  function blamed(body) {
    var errors = (body && body.errors) || [];
    for (var i = 0; i < errors.length; i++) {
      var m = /^(completions|checkins)\[(\d+)\]/.exec(errors[i].field || "");
      if (m) {
        var code = typeof errors[i].code === "string" ? errors[i].code : null;
        return { list: m[1], index: Number(m[2]), message: errors[i].message, code: code };
      }
    }
    return null;
  }

  /* A signal that gives up on a request after `ms` (30 s by default). A network that is up but
   * passes nothing (a weak signal, a dead Wi-Fi) can leave a request open for many minutes, and
   * what waits on it with it (the outbox's lock, "Connecting to your clinic…"); cut short, it fails
   * as one that found no network, and is tried again. A timer, not AbortSignal.timeout, which older
   * phones lack. */
  function deadline(ms) {
    var stop = new AbortController();
    setTimeout(function () { stop.abort(); }, ms || 30000);
    return stop.signal;
  }

  /* POST a batch of records (completions and check-ins, as stored) to the sync endpoint. With
   * options.keepalive the request outlives the page, if it is small enough to be allowed to. */
  function postBatch(token, completions, checkins, options) {
    options = options || {};
    var text = JSON.stringify({
      completions: completions.map(function (r) { return r.body; }),
      checkins: checkins.map(function (r) { return r.body; }),
    });
    return (options.fetch || root.fetch.bind(root))(SYNC_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: text,
      credentials: "omit",
      cache: "no-store",
      signal: deadline(),
      // A keepalive request may carry at most 64 KiB; a bigger batch goes as a plain one.
      keepalive: Boolean(options.keepalive) && utf8Bytes(text) < 60000,
    });
  }

  /* Send what waits in the outbox. Never throws; returns {status, sent, refused} (refused: the
   * records set aside as refused by this run):
   *   ok       everything ready was sent (or nothing was waiting)
   *   offline  the request did not reach the server
   *   retry    the server is busy or failing (429, 5xx, a 401 not from Unknot): try again later
   *   error    another 4xx the records cannot fix: try again later
   *   revoked  Unknot's 401 (isRemoval): this device must join again (`why`: see whyRemoved);
   *            another 401 is "retry"
   *   no-token not joined yet
   * Safe to run in several tabs at once: the server keeps each id once.
   */
  function flush(options) {
    options = options || {};
    var sent = 0;
    var refused = 0;
    var rounds = 0;

    function round(token) {
      rounds += 1;
      // Read before the records: a hold that a change finds still running after this read was
      // running at this moment too, so this send cannot take that record (see setPain).
      var now = Date.now();
      return allRecords().then(function (records) {
        var ready = pending(records).filter(function (r) { return !r.ready_at || r.ready_at <= now; });
        if (!ready.length) return { status: "ok", sent: sent };
        // Known to be offline: nothing goes, so nothing is stamped as tried (a record that surely
        // never left can still be taken back).
        if (root.navigator && root.navigator.onLine === false) return { status: "offline", sent: sent };
        var batch = batchOf(ready, MAX.completion, MAX.checkin, batchBytes);
        var completions = batch.completions;
        var checkins = batch.checkins;
        var stamped = [];
        // Stamped before the request goes; if the stamp cannot be stored, nothing goes (a record
        // at the clinic that the phone still thought never left could be taken back and logged
        // again). It waits on the phone and is tried later.
        return markTried(completions.concat(checkins)).then(function (firsts) {
          stamped = firsts;
          return postBatch(token, completions, checkins, { fetch: options.fetch });
        }).then(function (res) {
          if (res.status === 401) {
            return isRemoval(res).then(function (removed) {
              // Not Unknot's answer (a captive portal, a proxy): a failure on the way, nothing wiped.
              if (!removed) return { status: "retry", sent: sent };
              // Forgotten here too, so the worker's Background Sync (no page open) leaves nothing behind.
              return forgetPatient(token, removed).then(function (marker) {
                return marker ? forgetBrowserData() : null;
              }).then(function () { return { status: "revoked", sent: sent, why: removed }; });
            });
          }
          if (res.status === 413) {
            var all = completions.concat(checkins);
            // The body was refused before anything in it was stored: if a later request fails,
            // none of these may stay stamped as maybe at the clinic.
            return clearTried(stamped).then(function () {
              if (rounds >= 50) return { status: "error", sent: sent };
              if (all.length > 1) {
                // Too big for the server or a proxy on the way: every later send would build the
                // same batch, so go on with half as many bytes (and remember it, see LIMIT_KEY).
                batchBytes = Math.max(1, Math.floor(batch.bytes / 2));
                return set(LIMIT_KEY, { bytes: batchBytes, at: Date.now() }).catch(function () {})
                  .then(function () { return round(token); });
              }
              // One record alone is too big for a limit set below what a record can be: set it
              // aside, as a refused record, so the rest still go (it is tried again on request).
              all[0].state = "rejected";
              all[0].error = "too large";
              delete all[0].code;
              return putRecord(all[0]).then(function () {
                refused += 1;
                announce({ type: "records" });
                return round(token);
              });
            });
          }
          if (res.status === 429 || res.status >= 500) return { status: "retry", sent: sent };
          return res.json().catch(function () { return null; }).then(function (body) {
            if (res.ok && body) {
              var ids = (body.completions || []).concat(body.checkins || []);
              return markSent(completions.concat(checkins), ids, body.pains, body.withdrawn).then(function (n) {
                sent += n;
                announce({ type: "records" });
                // More waiting than one batch took: go on.
                return batch.rest && rounds < 50 ? round(token) : { status: "ok", sent: sent };
              });
            }
            var bad = blamed(body);
            var list = bad && (bad.list === "completions" ? completions : checkins);
            if (list && list[bad.index] && rounds < 50) {
              // One bad record must not hold up the rest: set it aside and send the others.
              var record = list[bad.index];
              // Unknot's own refusal naming a record: the server checks a batch whole before it
              // stores any of it, so the refused record, tried again on request, can still be
              // taken back (the others are stamped again as they go).
              return clearTried(stamped).then(function () {
                record.state = "rejected";
                record.error = bad.message;
                // Why, in a word the app words for its patient (an older server sends none).
                if (bad.code) record.code = bad.code;
                else delete record.code;
                return putRecord(record);
              }).then(function () {
                refused += 1;
                announce({ type: "records" });
                return round(token);
              });
            }
            return { status: "error", sent: sent };
          });
        }, function () {
          return { status: "offline", sent: sent };
        });
      });
    }

    return get("token").then(function (token) {
      if (!token) return { status: "no-token", sent: 0 };
      return learnedBatchBytes().then(function (bytes) {
        batchBytes = bytes;
        return round(token);
      });
    }).catch(function () {
      return { status: "error", sent: sent };
    }).then(function (result) {
      result.refused = refused;
      return result;
    });
  }

  /* The byte bound a 413 taught in the last day (in this or another page, or the worker), else
   * the full one. */
  function learnedBatchBytes() {
    return get(LIMIT_KEY).then(function (learned) {
      var now = Date.now();
      // A time ahead of now (the phone's clock was set back) would keep a bound for ever.
      if (!learned || !(learned.at > now - LIMIT_KEEP_MS && learned.at <= now)) return MAX_BATCH_BYTES;
      return Math.max(1, Math.min(MAX_BATCH_BYTES, Number(learned.bytes) || MAX_BATCH_BYTES));
    }, function () { return batchBytes; });
  }

  /** The byte bound sends keep to now (see learnedBatchBytes). */
  function batchLimit() {
    return batchBytes;
  }

  /* Run fn while holding the outbox lock, so two tabs (or a tab and the worker) never
   * send the same batch at once; null when another holder has it. */
  function withLock(fn) {
    var locks = root.navigator && root.navigator.locks;
    if (!locks) return fn();
    return locks.request("unknot-outbox", { ifAvailable: true }, function (lock) {
      return lock ? fn() : null;
    });
  }

  /* Run fn holding the outbox lock, waiting up to ms for a send under way to finish (a record
   * must not change or go away while it is on its way); null when the wait ran out. */
  function withLockWait(fn, ms) {
    var locks = root.navigator && root.navigator.locks;
    if (!locks) return Promise.resolve().then(fn);
    var signal = root.AbortSignal && root.AbortSignal.timeout ? root.AbortSignal.timeout(ms) : undefined;
    return locks.request("unknot-outbox", signal ? { signal: signal } : {}, function () { return fn(); })
      .catch(function (err) {
        if (err && (err.name === "TimeoutError" || err.name === "AbortError")) return null;
        throw err;
      });
  }

  root.unknotCore = {
    open: open,
    volatile: volatile,
    tokenLasts: tokenLasts,
    get: get,
    set: set,
    setForToken: setForToken,
    del: del,
    allRecords: allRecords,
    getRecord: getRecord,
    putRecord: putRecord,
    releaseHolds: releaseHolds,
    setPain: setPain,
    takeBack: takeBack,
    takeBackHeld: takeBackHeld,
    withdraw: withdraw,
    withdrawn: withdrawn,
    undoId: undoId,
    markTried: markTried,
    clearTried: clearTried,
    retryRejected: retryRejected,
    markSent: markSent,
    batchLimit: batchLimit,
    batchOf: batchOf,
    mergeSent: mergeSent,
    clearAll: clearAll,
    forgetPatient: forgetPatient,
    forgetBrowserData: forgetBrowserData,
    clearApiCache: clearApiCache,
    perExercise: perExercise,
    pending: pending,
    flush: flush,
    removalBody: removalBody,
    whyRemoved: whyRemoved,
    isRemoval: isRemoval,
    postBatch: postBatch,
    deadline: deadline,
    withLock: withLock,
    withLockWait: withLockWait,
    announce: announce,
    SYNC_URL: SYNC_URL,
  };
})(typeof self !== "undefined" ? self : globalThis);
