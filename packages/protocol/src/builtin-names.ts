/** The built-in reductions, by the names users pass to `reduce`. */
export const BUILTIN_REDUCTIONS = ['sum', 'min', 'max', 'mean', 'sumsq', 'count'] as const;
export type BuiltinReduction = (typeof BUILTIN_REDUCTIONS)[number];
