/**
 * The bounds that keep matching cheap whatever the configuration
 * (docs/matching.md, "Limits"). One regex condition costs at most about
 * (its RE2 instructions) × (the characters it reads) steps of re2js's
 * automaton, so bounding both bounds the CPU one event can take.
 */
export const MATCH_LIMITS = {
  /** A regex reads only the first this many characters (UTF-16 code units) of a value. */
  textLength: 4096,
  /** Characters in one pattern, as written. */
  patternLength: 1000,
  /** RE2 instructions of all the regexes of one match together (`Match.regexSize`). */
  regexSize: 256,
  /** Levels of `any` and `not` inside one another. */
  depth: 8,
} as const;
