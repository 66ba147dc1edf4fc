// A searchable choice (the ARIA combobox pattern): type to narrow the list, arrow keys to move,
// Enter to choose, Escape to close. Used for units and for searching codes: lists too long for a
// select, where people know part of a name or number.
import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import { useI18n } from '../i18n.tsx';

export interface ComboOption {
  value: string;
  label: string;
  hint?: string;
  /** words to match besides the label and value */ keywords?: string;
}

/** Lower case without diacritics, so "tromso" finds "Tromsø" and "alesund" finds "Ålesund". */
export function fold(s: string): string {
  return s
    .toLowerCase()
    .replace(/ø/g, 'o')
    .replace(/æ/g, 'ae')
    .replace(/å/g, 'a')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '');
}

export function Combobox({
  id,
  options,
  value,
  onChange,
  disabled,
  describedBy,
  invalid,
  placeholder,
  max = 60,
  footer,
  onTextChange,
  pinned = [],
}: {
  id: string;
  options: ComboOption[];
  value: string;
  onChange(value: string): void;
  disabled?: boolean;
  describedBy?: string;
  invalid?: boolean;
  placeholder?: string;
  max?: number;
  footer?: ReactNode;
  /** what is typed, as it is typed */ onTextChange?(text: string): void;
  /** options always shown first, whatever is typed (e.g. a suggested code) */ pinned?: ComboOption[];
}) {
  const { t } = useI18n();
  const listId = useId();
  const selected = options.find((o) => o.value === value);
  const [text, setText] = useState<string | null>(null); // null: not typing, show the chosen option
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const matches = useMemo(() => {
    const words = fold(text ?? '')
      .split(/\s+/)
      .filter(Boolean);
    const found = words.length
      ? options.filter((o) => {
          const hay = fold(`${o.label} ${o.value} ${o.hint ?? ''} ${o.keywords ?? ''}`);
          return words.every((w) => hay.includes(w));
        })
      : options;
    return [...pinned, ...found.slice(0, max)];
  }, [options, text, max, pinned]);
  useEffect(() => {
    setActive(0);
  }, [text]);
  const choose = (o: ComboOption | undefined) => {
    if (!o) return;
    onChange(o.value);
    setText(null);
    setOpen(false);
  };
  const onKey = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setOpen(true);
      setActive((a) => Math.min(a + 1, matches.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, 0));
    } else if (e.key === 'Enter') {
      if (open && matches[active]) {
        e.preventDefault();
        choose(matches[active]);
      }
    } else if (e.key === 'Escape') {
      if (open) {
        e.preventDefault();
        setOpen(false);
        setText(null);
      }
    } else if (e.key === 'Home' && open) {
      setActive(0);
    } else if (e.key === 'End' && open) {
      setActive(matches.length - 1);
    }
  };
  const shown = text ?? (selected ? selected.label : value);
  return (
    <div className="combobox">
      <input
        ref={input}
        id={id}
        className="ds-input combobox__input"
        type="text"
        role="combobox"
        autoComplete="off"
        spellCheck={false}
        aria-autocomplete="list"
        aria-expanded={open}
        aria-controls={listId}
        aria-describedby={describedBy}
        aria-invalid={invalid || undefined}
        aria-activedescendant={open && matches[active] ? `${listId}-${active}` : undefined}
        value={shown}
        placeholder={placeholder}
        disabled={disabled}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
          onTextChange?.(e.target.value);
        }}
        onFocus={(e) => e.target.select()}
        onClick={() => setOpen(true)}
        onKeyDown={onKey}
        onBlur={() => {
          setTimeout(() => {
            setOpen(false);
            setText(null);
          }, 150);
        }}
      />
      <ul id={listId} role="listbox" className="combobox__list" hidden={!open} aria-label={t('combo.options')}>
        {matches.map((o, i) => (
          <li
            key={`${i}-${o.value}`}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={o.value === value}
            className={`combobox__option${i === active ? ' is-active' : ''}`}
            onMouseDown={(e) => {
              e.preventDefault();
              choose(o);
            }}
            onMouseEnter={() => setActive(i)}
          >
            <span>{o.label}</span>
            {o.hint && <span className="combobox__hint"> {o.hint}</span>}
          </li>
        ))}
        {matches.length === 0 && (
          <li className="combobox__empty" role="presentation">
            {t('combo.none')}
          </li>
        )}
        {footer && (
          <li role="presentation" className="combobox__footer">
            {footer}
          </li>
        )}
      </ul>
    </div>
  );
}
