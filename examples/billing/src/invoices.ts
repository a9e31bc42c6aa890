import { injectable } from "@natsflow/core";

export interface Invoice {
  orderId: string;
  customer: string;
  amountCents: number;
  discountPercent: number;
}

/** The invoices billing has written; a database in a real service. Idempotent by order id. */
@injectable()
export class InvoiceRepository {
  private readonly byOrder = new Map<string, Invoice>();
  /** For the demo: the next N writes fail, as a database that is down would. */
  failNext = 0;

  save(invoice: Invoice): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("invoice database unavailable");
    }
    this.byOrder.set(invoice.orderId, invoice);
  }

  find(orderId: string): Invoice | undefined {
    return this.byOrder.get(orderId);
  }

  get count(): number {
    return this.byOrder.size;
  }
}
