/** A tiny element builder: `el('li', { class: 'line' }, 'text', child)`. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** A thumbs-up icon (down when `down`), as inline SVG: emoji fonts are not everywhere. */
export function thumb(down: boolean): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  if (down) svg.style.transform = 'rotate(180deg)';
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', 'M2 10h4v11H2zM8 21h9.2a2 2 0 0 0 1.96-1.6l1.6-8A2 2 0 0 0 18.8 9H14l.9-4.3a1.5 1.5 0 0 0-.4-1.4L13.4 2 8 7.6z');
  svg.append(path);
  return svg;
}
