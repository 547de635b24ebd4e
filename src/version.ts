/**
 * The gateway's version, read from package.json: the one place it is
 * written (CHANGELOG.md says what each version changed). The bundler keeps
 * only this field of the file.
 */
import { version } from "../package.json";

export const VERSION: string = version;
