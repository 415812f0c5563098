// Icons as inline SVG: drawn from paths, so no emoji or symbol font is needed (without one, "📎"
// rendered as an empty box). Each is decorative (aria-hidden): the control that holds it is named by
// its aria-label, which icon buttons must carry.

const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  // A paperclip.
  attach: "M21.4 11.1 12.2 20.3a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5",
  close: "M6 6l12 12M18 6 6 18",
  back: "M19 12H5M12 19l-7-7 7-7",
};

/** An inline SVG icon by name (see PATHS), sized to the text around it. */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  for (const [key, value] of Object.entries({
    viewBox: "0 0 24 24", width: "1em", height: "1em", fill: "none", stroke: "currentColor",
    "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round",
    "aria-hidden": "true", focusable: "false", class: `icon-svg icon-${name}`,
  })) svg.setAttribute(key, value);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
