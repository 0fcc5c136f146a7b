/* Unknot storage and outbox: one copy shared by the page and the service worker.
 *
 * Written as a classic script with no import/export so that both can load it:
 * the service worker with importScripts('/js/core.js'), the page's modules with
 * `import './core.js'`. It defines globalThis.unknotCore.
 *
 * IndexedDB "unknot":
 *   kv       key -> value: token, patient, lang, plan:<lang>, ...
 *   records  completions and check-ins by client UUID:
 *            {id, type: "completion"|"checkin", state: "pending"|"sent"|"rejected",
 *             ready_at (ms; not sent before), error?, body: <what the server takes>}
 */
(function (root) {
  "use strict";
  var DB_NAME = "unknot";
  var DB_VERSION = 1;
  var SYNC_URL = "/api/v1/patient/sync";
  var MAX = { completion: 500, checkin: 100 };
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

  function tx(stores, mode, work) {
    return open().then(function (db) {
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
    });
  }

  function get(key) {
    return tx(["kv"], "readonly", function (t) { return req(t.objectStore("kv").get(key)); });
  }

  function set(key, value) {
    return tx(["kv"], "readwrite", function (t) { t.objectStore("kv").put(value, key); });
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

  function deleteRecord(id) {
    return tx(["records"], "readwrite", function (t) { t.objectStore("records").delete(id); });
  }

  /* Change one record in a single transaction: change(record) returns what to store (or null to
   * leave it); resolves with the stored record, or the record as found when nothing was stored. */
  function updateRecord(id, change) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return req(store.get(id)).then(function (found) {
        var next = found ? change(found) : null;
        if (next) store.put(next);
        return next || found || null;
      });
    });
  }

  /* Let go of every record held back for the pain question (the page that held it is leaving). */
  function releaseHolds() {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return req(store.getAll()).then(function (all) {
        var n = 0;
        all.forEach(function (r) {
          if (r.state === "pending" && r.ready_at) { r.ready_at = 0; store.put(r); n += 1; }
        });
        return n;
      });
    });
  }

  /* Records the server reported (GET /log): stored as sent unless already known. */
  function mergeSent(type, bodies) {
    return tx(["records"], "readwrite", function (t) {
      var store = t.objectStore("records");
      return Promise.all(bodies.map(function (body) {
        return req(store.get(body.id)).then(function (found) {
          if (!found) store.put({ id: body.id, type: type, state: "sent", ready_at: 0, body: body });
          else if (found.state !== "sent") { found.state = "sent"; store.put(found); }
        });
      }));
    });
  }

  function clearAll() {
    return tx(["kv", "records"], "readwrite", function (t) {
      t.objectStore("kv").clear();
      t.objectStore("records").clear();
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

  /* The index and field a 4xx names, e.g. "completions[3].on_date" -> {list, index}. */
  function blamed(body) {
    var errors = (body && body.errors) || [];
    for (var i = 0; i < errors.length; i++) {
      var m = /^(completions|checkins)\[(\d+)\]/.exec(errors[i].field || "");
      if (m) return { list: m[1], index: Number(m[2]), message: errors[i].message };
    }
    return null;
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
      // A keepalive request may carry at most 64 KB; a bigger batch goes as a plain one.
      keepalive: Boolean(options.keepalive) && text.length < 60000,
    });
  }

  /* Send what waits in the outbox. Never throws; returns {status, sent}:
   *   ok       everything ready was sent (or nothing was waiting)
   *   offline  the request did not reach the server
   *   retry    the server is busy or failing (429, 5xx): try again later
   *   error    another 4xx the records cannot fix: try again later
   *   revoked  401: this device must join again
   *   no-token not joined yet
   * Safe to run in several tabs at once: the server keeps each id once.
   */
  function flush(options) {
    options = options || {};
    var sent = 0;
    var rounds = 0;

    function round(token) {
      rounds += 1;
      return allRecords().then(function (records) {
        var now = Date.now();
        var ready = pending(records).filter(function (r) { return !r.ready_at || r.ready_at <= now; });
        if (!ready.length) return { status: "ok", sent: sent };
        var completions = ready.filter(function (r) { return r.type === "completion"; }).slice(0, MAX.completion);
        var checkins = ready.filter(function (r) { return r.type === "checkin"; }).slice(0, MAX.checkin);
        return postBatch(token, completions, checkins, { fetch: options.fetch }).then(function (res) {
          if (res.status === 401) {
            return set("revoked", true).then(function () { return { status: "revoked", sent: sent }; });
          }
          if (res.status === 429 || res.status >= 500) return { status: "retry", sent: sent };
          return res.json().catch(function () { return null; }).then(function (body) {
            if (res.ok && body) {
              var held = {};
              (body.completions || []).concat(body.checkins || []).forEach(function (id) { held[id] = true; });
              return tx(["records"], "readwrite", function (t) {
                var store = t.objectStore("records");
                return Promise.all(completions.concat(checkins).map(function (r) {
                  if (!held[r.id]) return null;
                  return req(store.get(r.id)).then(function (found) {
                    if (found && found.state === "pending") {
                      found.state = "sent";
                      // What the clinic holds is what went out (ids are kept once, never changed).
                      found.body = r.body;
                      store.put(found);
                      sent += 1;
                    } else if (!found) {
                      // Deleted while on its way (only without Web Locks): the clinic has it.
                      r.state = "sent";
                      store.put(r);
                    }
                  });
                }));
              }).then(function () {
                announce({ type: "records" });
                // More than one batch's worth waiting: go on.
                var more = completions.length === MAX.completion || checkins.length === MAX.checkin;
                return more && rounds < 50 ? round(token) : { status: "ok", sent: sent };
              });
            }
            var bad = blamed(body);
            var list = bad && (bad.list === "completions" ? completions : checkins);
            if (list && list[bad.index] && rounds < 50) {
              // One bad record must not hold up the rest: set it aside and send the others.
              var record = list[bad.index];
              record.state = "rejected";
              record.error = bad.message;
              return putRecord(record).then(function () {
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
      return round(token);
    }).catch(function () {
      return { status: "error", sent: sent };
    });
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
    get: get,
    set: set,
    del: del,
    allRecords: allRecords,
    getRecord: getRecord,
    putRecord: putRecord,
    deleteRecord: deleteRecord,
    updateRecord: updateRecord,
    releaseHolds: releaseHolds,
    mergeSent: mergeSent,
    clearAll: clearAll,
    pending: pending,
    flush: flush,
    postBatch: postBatch,
    withLock: withLock,
    withLockWait: withLockWait,
    announce: announce,
    SYNC_URL: SYNC_URL,
  };
})(typeof self !== "undefined" ? self : globalThis);
