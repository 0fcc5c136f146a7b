// The body map: a front and a back figure (our own simple drawing, inline SVG) with a region for
// each catalog muscle on each side. A region is a checkbox: click or tap toggles it; from the
// keyboard each figure is one tab stop, the arrow keys move between regions (Up and Down through
// the muscles, Left and Right to the region on that side of the screen), Space or Enter toggles.

import { fill, h, s } from "./dom.js";
import { REGION_NAMES } from "./format.js";

const WIDTH = 200;
const HEIGHT = 462;

// The viewer's left half of the figure outline, from the neck down to the crotch; mirrored for the right.
const OUTLINE = [
  [91, 58], [89, 76], [74, 84], [58, 90], [47, 102], [42, 130], [39, 170], [33, 210], [29, 248], [24, 262],
  [25, 284], [36, 290], [43, 270], [45, 250], [53, 212], [58, 176], [62, 136], [64, 124], [66, 150], [69, 196],
  [63, 232], [62, 260], [66, 330], [68, 352], [64, 380], [70, 428], [62, 446], [66, 454], [94, 454], [92, 430],
  [94, 380], [93, 340], [97, 268], [100, 254],
];

// Shapes on the viewer's left half, mirrored for the other side. ["e", cx, cy, rx, ry, rotation]
// is an ellipse, ["p", [[x, y], ...]] a polygon. Listed large first: later (smaller, deeper)
// shapes are drawn on top so both stay reachable.
const SHAPES = {
  front: [
    ["pectoralis-major", ["p", [[98, 92], [76, 88], [62, 100], [64, 118], [72, 128], [98, 126]]]],
    ["deltoid", ["e", 53, 108, 9, 15, 15]],
    ["biceps-brachii", ["e", 50, 148, 7, 20, 8]],
    ["serratus-anterior", ["p", [[66, 138], [74, 136], [76, 168], [68, 170]]]],
    ["temporalis", ["e", 82, 28, 7, 10, -15]],
    ["masseter", ["e", 85, 56, 6, 7, -10]],
    ["lateral-pterygoid", ["e", 87, 43, 5, 4, 0]],
    ["sternocleidomastoid", ["e", 94, 71, 4, 11, -19]],
    ["scalenes", ["e", 84, 79, 4, 7.5, -60]],
    ["pectoralis-minor", ["e", 70, 105, 7, 4, -50]],
    ["subscapularis", ["e", 67, 131, 4.5, 9, 0]],
    ["brachioradialis", ["e", 41, 188, 5, 14, 14]],
    ["wrist-flexors", ["e", 49, 214, 4.5, 20, 14]],
    ["iliopsoas", ["e", 85, 222, 6, 12, -25]],
    ["tensor-fasciae-latae", ["e", 67, 242, 5, 10, 10]],
    ["rectus-femoris", ["e", 81, 288, 7, 30, 4]],
    ["vastus-lateralis", ["e", 69, 298, 4.5, 28, 4]],
    ["adductors", ["e", 93, 276, 4.5, 17, -8]],
    ["vastus-medialis", ["e", 89, 324, 5, 9, -12]],
    ["tibialis-anterior", ["e", 76, 388, 5, 28, 3]],
    ["peroneals", ["e", 67, 388, 3.5, 20, 3]],
  ],
  back: [
    ["upper-trapezius", ["p", [[97, 74], [90, 72], [76, 83], [60, 90], [66, 96], [97, 90]]]],
    ["latissimus-dorsi", ["p", [[66, 136], [84, 134], [86, 176], [72, 190], [69, 170]]]],
    ["infraspinatus", ["e", 71, 116, 10, 9, 0]],
    ["gluteus-maximus", ["e", 86, 258, 11, 13, 0]],
    ["hamstrings", ["e", 81, 304, 9, 32, 2]],
    ["gastrocnemius", ["e", 80, 368, 8, 18, 0]],
    ["suboccipitals", ["e", 91, 55, 7.5, 4.2, 0]],
    ["splenius-capitis", ["e", 94, 67, 4.2, 7.5, -20]],
    ["levator-scapulae", ["e", 88, 80, 4.2, 9, 40]],
    ["supraspinatus", ["e", 72, 98, 10, 3.5, -6]],
    ["middle-trapezius", ["p", [[92.8, 92], [82, 94], [82, 103], [92.8, 103]]]],
    ["rhomboids", ["p", [[92.8, 105], [84, 107], [84, 127], [92.8, 131]]]],
    ["teres-minor", ["e", 60, 130, 7, 4, 30]],
    ["lower-trapezius", ["p", [[92.8, 133], [84, 131], [87, 151], [92.8, 170]]]],
    ["thoracic-paraspinals", ["p", [[99.4, 92], [93.6, 92], [93.6, 196], [99.4, 196]]]],
    ["lumbar-paraspinals", ["p", [[99.4, 199], [93.6, 199], [93.6, 238], [99.4, 238]]]],
    ["quadratus-lumborum", ["e", 86, 214, 5.5, 11, 0]],
    ["gluteus-medius", ["e", 73, 236, 9, 8, 0]],
    ["gluteus-minimus", ["e", 68, 241, 4.5, 5, 0]],
    ["piriformis", ["e", 84, 249, 7.5, 3.4, 15]],
    ["soleus", ["e", 80, 400, 6, 12, 0]],
    ["foot-intrinsics", ["e", 79, 448, 9, 4.5, 0]],
    ["wrist-extensors", ["e", 43, 208, 5, 22, 14]],
  ],
};

/** Which view shows each muscle (for the list's "front"/"back" hint and for tests). */
export const VIEW_OF = Object.fromEntries(
  Object.entries(SHAPES).flatMap(([view, shapes]) => shapes.map(([id]) => [id, view])),
);

function mirrorX(x) {
  return WIDTH - x;
}

function outlinePoints() {
  const left = OUTLINE;
  const right = [...OUTLINE].reverse().map(([x, y]) => [mirrorX(x), y]);
  return [...left, ...right].map(([x, y]) => `${x},${y}`).join(" ");
}

function centre(shape) {
  if (shape[0] === "e") return [shape[1], shape[2]];
  const pts = shape[1];
  return [pts.reduce((a, p) => a + p[0], 0) / pts.length, pts.reduce((a, p) => a + p[1], 0) / pts.length];
}

function drawShape(shape, mirrored, props) {
  if (shape[0] === "e") {
    const [, cx, cy, rx, ry, rot] = shape;
    const x = mirrored ? mirrorX(cx) : cx;
    const r = mirrored ? -rot : rot;
    return s("ellipse", { ...props, cx: x, cy, rx, ry, transform: r ? `rotate(${r} ${x} ${cy})` : null });
  }
  const pts = shape[1].map(([x, y]) => `${mirrored ? mirrorX(x) : x},${y}`).join(" ");
  return s("polygon", { ...props, points: pts });
}

/**
 * Build the body map.
 * @param {object} o
 * @param {Map<string, object>} o.muscles catalog muscles by id ({id, name, region, referral, precautions})
 * @param {(muscle: string, side: string) => boolean} o.isSelected
 * @param {(muscle: string, side: string) => void} o.onToggle
 * @param {(muscle: string|null, side: string|null) => void} [o.onHover]
 * @returns {{element: HTMLElement, update: () => void, highlight: (muscle: string|null) => void}}
 */
export function bodyMap({ muscles, isSelected, onToggle, onHover = () => {} }) {
  const regions = [];
  // On a touch screen nothing is pointed at before the tap, and the smallest regions are smaller
  // than a finger: the caption says so and points to the list ("Find a muscle").
  const touch = window.matchMedia("(hover: none) and (pointer: coarse)").matches;
  const idle = touch
    ? "Tap a region to pick it; its name shows here. Small muscles are easier to pick from Find a muscle."
    : "Point at or focus a region to see its name.";
  const caption = h("p", { class: "map-caption", id: "map-caption" }, idle);

  function describe(el) {
    if (!el) {
      fill(caption, idle);
      return;
    }
    const m = muscles.get(el.dataset.muscle);
    fill(
      caption,
      h("strong", {}, `${m.name}, ${el.dataset.side}`),
      ` · ${REGION_NAMES[m.region] || m.region}`,
      isSelected(el.dataset.muscle, el.dataset.side) ? " · selected" : "",
    );
  }

  function figure(view) {
    // Front: the patient faces us, so their right is on our left. Back: their left is on our left.
    const leftSide = view === "front" ? "right" : "left";
    const rightSide = view === "front" ? "left" : "right";
    const group = [];
    const svg = s(
      "svg",
      {
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        class: "figure",
        role: "group",
        "aria-label": `${view === "front" ? "Front" : "Back"} of the body: one checkbox per muscle and side`,
        "data-view": view,
      },
      s("ellipse", { class: "outline", cx: 100, cy: 35, rx: 24, ry: 29 }),
      s("polygon", { class: "outline", points: outlinePoints() }),
      s("line", { class: "midline", x1: 100, y1: 70, x2: 100, y2: 250 }),
      s("text", { class: "side-mark", x: 10, y: 22, "aria-hidden": "true" }, leftSide === "right" ? "R" : "L"),
      s("text", { class: "side-mark", x: WIDTH - 22, y: 22, "aria-hidden": "true" }, rightSide === "right" ? "R" : "L"),
    );
    for (const [muscle, shape] of SHAPES[view]) {
      const m = muscles.get(muscle);
      if (!m) continue;
      for (const [mirrored, side] of [[false, leftSide], [true, rightSide]]) {
        const el = drawShape(shape, mirrored, {
          class: "region",
          role: "checkbox",
          "aria-checked": "false",
          "aria-label": `${m.name}, ${side}`,
          tabindex: "-1",
          "data-muscle": muscle,
          "data-side": side,
          "data-view": view,
        });
        const [cx, cy] = centre(shape);
        el._pos = { x: mirrored ? mirrorX(cx) : cx, y: cy, mirrored };
        svg.append(el);
        group.push(el);
        regions.push(el);
      }
    }
    // Keyboard order: top to bottom, each muscle's screen-left region first.
    group.sort((a, b) => a._pos.y - b._pos.y || a._pos.x - b._pos.x);
    group[0].setAttribute("tabindex", "0");

    svg.addEventListener("click", (event) => {
      const el = event.target.closest(".region");
      if (!el) return;
      rove(group, el, false);
      onToggle(el.dataset.muscle, el.dataset.side);
      describe(el);
    });
    svg.addEventListener("keydown", (event) => {
      const el = event.target.closest(".region");
      if (!el) return;
      const i = group.indexOf(el);
      const sameSide = group.filter((r) => r._pos.mirrored === el._pos.mirrored);
      const j = sameSide.indexOf(el);
      let next = null;
      switch (event.key) {
        case " ":
        case "Enter":
          event.preventDefault();
          onToggle(el.dataset.muscle, el.dataset.side);
          describe(el);
          return;
        case "ArrowDown":
          next = sameSide[Math.min(j + 1, sameSide.length - 1)];
          break;
        case "ArrowUp":
          next = sameSide[Math.max(j - 1, 0)];
          break;
        case "ArrowLeft":
        case "ArrowRight": {
          const wantMirrored = event.key === "ArrowRight";
          next = group.find(
            (r) => r.dataset.muscle === el.dataset.muscle && r._pos.mirrored === wantMirrored,
          ) || el;
          break;
        }
        case "Home":
          next = group[0];
          break;
        case "End":
          next = group[group.length - 1];
          break;
        default:
          return;
      }
      event.preventDefault();
      if (next && next !== group[i]) rove(group, next, true);
    });
    svg.addEventListener("pointerover", (event) => {
      const el = event.target.closest(".region");
      describe(el);
      onHover(el ? el.dataset.muscle : null, el ? el.dataset.side : null);
    });
    svg.addEventListener("pointerleave", () => {
      describe(svg.querySelector(".region:focus"));
      onHover(null, null);
    });
    svg.addEventListener("focusin", (event) => describe(event.target.closest(".region")));

    const title = view === "front" ? "Front" : "Back";
    const hint = view === "front" ? "patient's right on the left" : "patient's left on the left";
    return h("figure", { class: "map-figure" }, svg, h("figcaption", {}, h("strong", {}, title), ` (${hint})`));
  }

  function rove(group, el, focus) {
    for (const r of group) r.setAttribute("tabindex", r === el ? "0" : "-1");
    if (focus) el.focus();
  }

  const element = h(
    "div",
    { class: "bodymap" },
    h("div", { class: "figures" }, figure("front"), figure("back")),
    caption,
  );

  function update() {
    for (const el of regions) {
      el.setAttribute("aria-checked", String(isSelected(el.dataset.muscle, el.dataset.side)));
    }
  }

  function highlight(muscle) {
    for (const el of regions) el.classList.toggle("hint", el.dataset.muscle === muscle);
  }

  update();
  return { element, update, highlight };
}
