/** Which handler a message is running through, for logs, errors and spans. */
export interface HandlerInfo {
  /** `Class.method` */
  readonly name: string;
  readonly subject: string;
  readonly queue?: string | undefined;
}
