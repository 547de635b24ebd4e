/** Matching events (docs/matching.md): one matcher for reply rules and routes. */
export { MATCH_LIMITS } from "./limits.js";
export { compileMatch, MatchError, type Match } from "./match.js";
