// A wide table on a narrow screen scrolls inside its own box, never the page: the box is a
// labelled region that takes focus, so it can be scrolled with the keyboard too.
import type { ReactNode } from 'react';

export function ScrollTable({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
