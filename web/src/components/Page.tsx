// Every page starts with its one h1, which takes focus when the page changes (for screen readers).
import { Heading } from '@digdir/designsystemet-react';
import { useEffect, useRef, type ReactNode } from 'react';

export function Page({ title, children }: { title: string; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} – kvalreg`;
    h1.current?.focus();
  }, [title]);
  return (
    <>
      <Heading level={1} data-size="lg" ref={h1} tabIndex={-1} className="page-title">
        {title}
      </Heading>
      {children}
    </>
  );
}
