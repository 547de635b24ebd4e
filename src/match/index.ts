/** Matching events (docs/matching.md): one matcher for reply rules and routes. */
export { MATCH_LIMITS } from "./limits.js";
export { compileMatch, MatchError, textAt, type Compared, type Match } from "./match.js";
