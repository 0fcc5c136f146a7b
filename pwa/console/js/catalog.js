// The content library, loaded once per page (it is public and never changes while the server runs).

import { api } from "./api.js";

let muscles = null;
let exercises = null;
let conditions = null;

/** {regions: [{region, muscles}], byId: Map} */
export function loadMuscles() {
  muscles ||= api("/catalog/muscles?lang=en").then((regions) => ({
    regions,
    byId: new Map(regions.flatMap((r) => r.muscles.map((m) => [m.id, m]))),
  }));
  muscles.catch(() => {
    muscles = null;
  });
  return muscles;
}

/** Map of exercise id to exercise (English texts). */
export function loadExercises() {
  exercises ||= api("/catalog/exercises?lang=en").then((list) => new Map(list.map((e) => [e.id, e])));
  exercises.catch(() => {
    exercises = null;
  });
  return exercises;
}

/** Conditions a program can be started from (English texts), in the content's order. */
export function loadConditions() {
  conditions ||= api("/catalog/conditions?lang=en");
  conditions.catch(() => {
    conditions = null;
  });
  return conditions;
}
