/** JSON as it appears in a manifest; in a module of its own so that props.ts and the modules it uses share it without a cycle. */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };
