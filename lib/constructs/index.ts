export * from './props';
export * from './metadata';
export * from './agent';
export * from './webhook';
export * from './webhook-configuration';
export * from './certificates';
export * from './kit';
export * from './placeholder';
