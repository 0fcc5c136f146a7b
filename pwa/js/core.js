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
    var fetchFn = options.fetch || root.fetch.bind(root);
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
        var payload = {
          completions: completions.map(function (r) { return r.body; }),
          checkins: checkins.map(function (r) { return r.body; }),
        };
        return fetchFn(SYNC_URL, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
          body: JSON.stringify(payload),
          credentials: "omit",
          cache: "no-store",
        }).then(function (res) {
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
                      store.put(found);
                      sent += 1;
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

  root.unknotCore = {
    open: open,
    get: get,
    set: set,
    del: del,
    allRecords: allRecords,
    getRecord: getRecord,
    putRecord: putRecord,
    deleteRecord: deleteRecord,
    mergeSent: mergeSent,
    clearAll: clearAll,
    pending: pending,
    flush: flush,
    withLock: withLock,
    announce: announce,
    SYNC_URL: SYNC_URL,
  };
})(typeof self !== "undefined" ? self : globalThis);
