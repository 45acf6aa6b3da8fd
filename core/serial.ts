/**
 * Runs tasks one at a time, in the order given: the steps of a component that must not overlap (its
 * background loop's and a caller's). A task's failure goes to its caller and does not stop the next.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task given so far has ended. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
