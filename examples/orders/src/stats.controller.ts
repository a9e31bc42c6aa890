import { Controller, Subject, Subscribe } from "@natsflow/core";

/** Counts order events. No queue group: every instance sees every event. */
@Controller()
export class StatsController {
  private readonly counts = new Map<string, number>();

  @Subscribe("events.*")
  record(@Subject() subject: string): void {
    const kind = subject.slice(subject.lastIndexOf(".") + 1);
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  @Subscribe("stats")
  stats(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
