// Test helper: a store's operations as plain bound functions, so a test can spread them into a fake store.
import type { Store } from '../../src/store/types.js'

type Operations = Omit<Store, 'kind' | 'state'>

/**
 * Every operation of `store`, bound to it. The stores are classes (methods on the prototype, private fields),
 * so `{ ...store }` would copy none of them; `{ ...storeMethods(store), lease: ... }` overrides one or two.
 */
export function storeMethods (store: Store): Operations {
  return {
    get: store.get.bind(store),
    set: store.set.bind(store),
    delete: store.delete.bind(store),
    take: store.take.bind(store),
    list: store.list.bind(store),
    incr: store.incr.bind(store),
    lease: store.lease.bind(store),
    heartbeat: store.heartbeat.bind(store),
    publish: store.publish.bind(store),
    subscribe: store.subscribe.bind(store),
    onStateChange: store.onStateChange.bind(store),
    close: store.close.bind(store),
  }
}
