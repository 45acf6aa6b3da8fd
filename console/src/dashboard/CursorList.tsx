/**
 * What the dashboard's cursor-paged lists share: the pages fetched one after another (followed every
 * two seconds while an item is still pending, where the page asks), and the list's card with its
 * error, its empty text and the button for the next page.
 */
import { useInfiniteQuery, type UseInfiniteQueryResult, type InfiniteData } from "@tanstack/react-query";
import type { ReactNode } from "react";

import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useErrorText } from "./errors.ts";

interface CursorPage<T> {
  items: T[];
  nextCursor: string | null;
}

export interface CursorPages<T> {
  query: UseInfiniteQueryResult<InfiniteData<CursorPage<T>>>;
  /** Every item of the pages fetched so far, in order. */
  rows: T[];
}

/** The list under `["dashboard", list]`, page by page; refetched every 2 s while `followWhile` holds for an item. */
export function useCursorPages<T>(list: string, fetchPage: (cursor?: string) => Promise<CursorPage<T>>, followWhile?: (item: T) => boolean): CursorPages<T> {
  const query = useInfiniteQuery({
    queryKey: ["dashboard", list],
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (q) => (followWhile && q.state.data?.pages.some((p) => p.items.some(followWhile)) ? 2_000 : false),
  });
  return { query, rows: (query.data?.pages ?? []).flatMap((p) => p.items) };
}

/** A card titled `title` listing `pages` (each row drawn by `row`, an `<li>` with its key), `empty` when there are none. */
export function CursorListCard<T>({ id, title, empty, pages, row }: { id: string; title: string; empty: string; pages: CursorPages<T>; row: (item: T) => ReactNode }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const { query, rows } = pages;
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {query.isError ? <Alert text={errorText(query.error)} /> : null}
      {query.isSuccess && rows.length === 0 ? <p>{empty}</p> : null}
      <ul className="rows">{rows.map(row)}</ul>
      {query.hasNextPage ? (
        <button type="button" onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
          {t("dash.payments.more")}
        </button>
      ) : null}
    </section>
  );
}
