// Choosing a code of a hierarchical classification (e.g. a fracture's AO/OTA code): type part of
// the code or its words to find it, or walk skeleton → bone → segment → type → group → subgroup
// with the registry's schematic pictures and the codebook's words. Every step is a list of buttons
// (keyboard and screen readers); the pictures are the same choices for the eye and the mouse. A code
// of an older version of the classification is answered with the code it became ("did you mean").
import { Button } from '@digdir/designsystemet-react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api.ts';
import { useApi, type Text } from '../data.tsx';
import { fill } from '../errors.ts';
import { useI18n } from '../i18n.tsx';
import { Combobox, type ComboOption } from './Combobox.tsx';

interface Group {
  code: string;
  name: Text;
  subgroups: string[];
}
interface Type {
  code: string;
  letter: string;
  name: Text;
  picture: string | null;
  groups: Group[];
}
interface Segment {
  code: string;
  name: Text;
  types: Type[];
}
interface Bone {
  code: string;
  name: Text;
  picture: string | null;
  segments: Segment[];
}
export interface CodeTree {
  id: string;
  title: Text;
  levels: { bone: Text; segment: Text; type: Text; group: Text; subgroup: Text };
  skeleton: string | null;
  bones: Bone[];
}
interface Place {
  bone?: Bone;
  segment?: Segment;
  type?: Type;
  group?: Group;
}

/** Every code of the tree with its words and where it sits, for searching and for showing a chosen code. */
export function flatten(tree: CodeTree, lang: 'nb' | 'en'): Array<ComboOption & { place: Place }> {
  return tree.bones.flatMap((bone) =>
    bone.segments.flatMap((segment) =>
      segment.types.flatMap((type) =>
        type.groups.flatMap((group) => [
          {
            value: group.code,
            label: `${group.code} ${group.name[lang]}`,
            keywords: `${segment.name[lang]} ${bone.name[lang]} ${type.name[lang]}`,
            place: { bone, segment, type, group },
          },
          ...group.subgroups.map((s) => ({
            value: `${group.code}.${s}`,
            label: `${group.code}.${s} ${group.name[lang]}`,
            keywords: `${segment.name[lang]} ${bone.name[lang]}`,
            place: { bone, segment, type, group },
          })),
        ]),
      ),
    ),
  );
}

const svgCache = new Map<string, Promise<string>>();
function useSvg(url: string | null): string | null {
  const [svg, setSvg] = useState<string | null>(null);
  useEffect(() => {
    if (!url) {
      setSvg(null);
      return;
    }
    let live = true;
    if (!svgCache.has(url))
      svgCache.set(
        url,
        fetch(url).then((r) => (r.ok ? r.text() : '')),
      );
    void svgCache.get(url)!.then((s) => {
      if (live) setSvg(s);
    });
    return () => {
      live = false;
    };
  }, [url]);
  return svg;
}

/** A picture whose shapes (data-code) choose, and show the choice under the pointer or in focus. */
function Picture({ url, highlight, onPick, label }: { url: string; highlight: string | null; onPick(code: string): void; label: string }) {
  const svg = useSvg(url);
  const frame = useRef<HTMLDivElement>(null);
  useEffect(() => {
    frame.current
      ?.querySelectorAll('[data-code]')
      .forEach((el) => el.classList.toggle('is-highlighted', el.getAttribute('data-code') === highlight));
  }, [svg, highlight]);
  if (!svg) return null;
  // The pictures are the registry's own files; the lists beside them are the accessible choices.
  return (
    <div
      ref={frame}
      className="code-picture-frame"
      aria-hidden="true"
      title={label}
      onClick={(e) => {
        const code = (e.target as Element).closest('[data-code]')?.getAttribute('data-code');
        if (code) onPick(code);
      }}
      dangerouslySetInnerHTML={{ __html: svg }}
    />
  );
}

export function CodePicker({
  id,
  registry,
  codelist,
  value,
  onChange,
  disabled,
  describedBy,
  invalid,
  label,
}: {
  id: string;
  registry: string;
  codelist: string;
  value: string;
  onChange(v: string): void;
  disabled?: boolean;
  describedBy?: string;
  invalid?: boolean;
  label: string;
}) {
  const { t, lang } = useI18n();
  const tree = useApi<CodeTree>(`/api/registries/${registry}/codelists/${codelist}/tree`);
  const flat = useMemo(() => (tree.data ? flatten(tree.data, lang) : []), [tree.data, lang]);
  const chosen = flat.find((o) => o.value === value);
  const [open, setOpen] = useState(false);
  const [place, setPlace] = useState<Place>({});
  const [hover, setHover] = useState<string | null>(null);
  const [typed, setTyped] = useState('');
  const [suggestion, setSuggestion] = useState<ComboOption | null>(null);
  const panel = useRef<HTMLDivElement>(null);
  const base = `/api/registries/${registry}/codelists/${codelist}`;

  // An older version's code typed in: ask what it became.
  useEffect(() => {
    const code = typed.trim().toUpperCase().replace(/\s+/g, '');
    setSuggestion(null);
    if (code.length < 3 || flat.some((o) => o.value === code)) return;
    const timer = setTimeout(() => {
      api<{ valid: boolean; suggestion?: string; suggestionDisplay?: Text }>(`${base}/lookup?code=${encodeURIComponent(code)}`).then(
        (r) => {
          if (r.suggestion)
            setSuggestion({
              value: r.suggestion,
              label: `${fill(t('picker.didYouMean'), { code: r.suggestion, old: code })}${r.suggestionDisplay ? ` ${r.suggestionDisplay[lang]}` : ''}`,
              keywords: code,
            });
        },
        () => undefined,
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [typed, flat, base, lang, t]);

  // Opening the picker starts where the chosen code sits.
  const start = () => {
    setPlace(chosen ? { bone: chosen.place.bone, segment: chosen.place.segment, type: chosen.place.type, group: chosen.place.group } : {});
    setOpen(true);
  };
  useEffect(() => {
    if (open) panel.current?.querySelector<HTMLElement>('.code-picker__choices button')?.focus();
  }, [open, place]);
  const pick = (code: string) => {
    onChange(code);
    setOpen(false);
    setTimeout(() => document.getElementById(id)?.focus(), 0);
  };

  const level = !place.bone ? 'bone' : !place.segment ? 'segment' : !place.type ? 'type' : !place.group ? 'group' : 'subgroup';
  type Choice = { code: string; name: string; picture?: string | null; go(): void };
  const choices: Choice[] = !tree.data
    ? []
    : level === 'bone'
      ? tree.data.bones.map((b) => ({ code: b.code, name: b.name[lang], go: () => setPlace({ bone: b }) }))
      : level === 'segment'
        ? place.bone!.segments.map((s) => ({ code: s.code, name: s.name[lang], go: () => setPlace({ ...place, segment: s }) }))
        : level === 'type'
          ? place.segment!.types.map((ty) => ({
              code: ty.code,
              name: ty.name[lang],
              picture: ty.picture,
              // A type that is its own only group (the hand, the foot): choosing it chooses the code.
              go: () =>
                ty.groups.length === 1 && ty.groups[0].code === ty.code && ty.groups[0].subgroups.length === 0
                  ? pick(ty.code)
                  : setPlace({ ...place, type: ty }),
            }))
          : level === 'group'
            ? place.type!.groups.map((g) => ({
                code: g.code,
                name: g.name[lang],
                go: () => (g.subgroups.length ? setPlace({ ...place, group: g }) : pick(g.code)),
              }))
            : [
                {
                  code: place.group!.code,
                  name: `${place.group!.name[lang]} (${t('picker.noSubgroup')})`,
                  go: () => pick(place.group!.code),
                },
                ...place.group!.subgroups.map((s) => ({
                  code: `${place.group!.code}.${s}`,
                  name: `${fill(t('picker.subgroup'), { n: s })}: ${place.group!.name[lang]}`,
                  go: () => pick(`${place.group!.code}.${s}`),
                })),
              ];
  const picture = !tree.data ? null : level === 'bone' ? tree.data.skeleton : level === 'segment' ? place.bone!.picture : null;
  const crumbs: Array<{ label: string; to: Place }> = [{ label: t('picker.skeleton'), to: {} }];
  if (place.bone) crumbs.push({ label: place.bone.name[lang], to: { bone: place.bone } });
  if (place.segment)
    crumbs.push({ label: `${place.segment.code} ${place.segment.name[lang]}`, to: { bone: place.bone, segment: place.segment } });
  if (place.type) crumbs.push({ label: place.type.code, to: { bone: place.bone, segment: place.segment, type: place.type } });
  if (place.group) crumbs.push({ label: place.group.code, to: place });

  return (
    <div className="code-picker" data-codelist={codelist}>
      <Combobox
        id={id}
        options={flat}
        value={value}
        onChange={onChange}
        disabled={disabled}
        describedBy={`${id}-words ${describedBy ?? ''}`}
        invalid={invalid}
        placeholder={t('picker.search')}
        onTextChange={setTyped}
        pinned={suggestion ? [suggestion] : []}
      />
      <p id={`${id}-words`} className="code-picker__words" data-testid={`${id}-words`}>
        {value ? (chosen ? chosen.label : fill(t('picker.unknown'), { code: value })) : t('picker.none')}
      </p>
      {!disabled && (
        <Button
          type="button"
          variant="secondary"
          data-size="sm"
          aria-expanded={open}
          aria-controls={`${id}-panel`}
          onClick={() => (open ? setOpen(false) : start())}
        >
          {open ? t('picker.close') : fill(t('picker.open'), { what: label })}
        </Button>
      )}
      {open && tree.data && (
        <div
          ref={panel}
          id={`${id}-panel`}
          className="code-picker__panel"
          role="group"
          aria-label={fill(t('picker.panel'), { what: tree.data.title[lang] })}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault();
              setOpen(false);
              document.getElementById(id)?.focus();
            }
          }}
        >
          <nav aria-label={t('picker.path')} className="code-picker__path">
            <ol>
              {crumbs.map((c, i) => (
                <li key={i}>
                  {i < crumbs.length - 1 ? (
                    <button type="button" className="link-button" onClick={() => setPlace(c.to)}>
                      {c.label}
                    </button>
                  ) : (
                    <span aria-current="step">{c.label}</span>
                  )}
                </li>
              ))}
            </ol>
          </nav>
          <p className="code-picker__level">
            <strong>{fill(t('picker.choose'), { level: tree.data.levels[level][lang].toLowerCase() })}</strong>
          </p>
          <div className="code-picker__body">
            {picture && (
              <Picture
                url={`${base}/pictures/${picture}`}
                highlight={hover}
                label={tree.data.levels[level][lang]}
                onPick={(code) => choices.find((c) => c.code === code)?.go()}
              />
            )}
            <ul className="code-picker__choices">
              {choices.map((c) => (
                <li key={c.code}>
                  <button
                    type="button"
                    className="code-choice"
                    data-choice={c.code}
                    onClick={c.go}
                    onMouseEnter={() => setHover(c.code)}
                    onFocus={() => setHover(c.code)}
                  >
                    {c.picture && <img src={`${base}/pictures/${c.picture}`} alt="" className="code-choice__picture" />}
                    <span className="code-choice__code">{c.code}</span> <span className="code-choice__name">{c.name}</span>
                  </button>
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </div>
  );
}
