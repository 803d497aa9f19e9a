//
// asio_pal/map.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The map family's result range and the split helpers. The pools' map, map_all, starmap,
// starmap_all and their _unordered variants return a map_result.
//

#ifndef ASIO_PAL_MAP_HPP
#define ASIO_PAL_MAP_HPP

#include "asio_pal/detail/map_state.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace asio_pal {

/**
 * The results of a map, as a single-pass input range (range-for, `std::ranges` algorithms that
 * take input ranges), or one at a time from a coroutine with async_next().
 *
 * A task's exception is rethrown at its position (when the iteration reaches it); after that
 * the iteration is over. Destroying the range withdraws every task that has not started and
 * never blocks.
 *
 * @par Thread Safety
 * One consumer at a time.
 */
template <typename R>
class map_result
{
public:
    /// R, or std::monostate for functions returning void.
    using value_type = detail::item_t<R>;

    /// The input iterator of a map_result; equal to `std::default_sentinel` at the end.
    class iterator
    {
    public:
        /// The map's item type (map_result::value_type).
        using value_type = detail::item_t<R>;
        /// Required of iterators; unused.
        using difference_type = std::ptrdiff_t;
        /// value_type&, except for maps of bool: std::vector<bool>'s proxy, so take items by
        /// value (`for (bool b : pool.map(...))`).
        using reference = typename std::vector<value_type>::reference;
        /// A single-pass range.
        using iterator_concept = std::input_iterator_tag;

        /// A singular iterator.
        iterator() noexcept = default;

        /// The current result.
        reference operator*() const noexcept { return s_->current(); }
        /// Moves to the next result; rethrows a task's exception, throws timeout_error.
        iterator& operator++()
        {
            s_->advance();
            return *this;
        }
        /// As the prefix form; returns nothing (an input iterator).
        void operator++(int) { ++*this; }

        /// Whether the iteration is over.
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.s_->at_end();
        }

    private:
        friend class map_result;
        explicit iterator(detail::map_state<R>* s) noexcept : s_(s) {}
        detail::map_state<R>* s_ = nullptr;
    };

    /// Made by the pools' map members.
    explicit map_result(std::unique_ptr<detail::map_state<R>> s) noexcept : s_(std::move(s)) {}

    /// Moves the iteration; the moved-from range may only be destroyed or assigned to.
    map_result(map_result&&) noexcept = default;
    /// Withdraws this range's tasks that have not started, then takes over the other's.
    map_result& operator=(map_result&&) noexcept = default;

    /// Starts the iteration (a lazy map submits its first chunks here) and positions on the
    /// first result. Calling it again continues where the iteration is.
    iterator begin()
    {
        if (!begun_)
        {
            begun_ = true;
            s_->advance();
        }
        return iterator(s_.get());
    }

    /// The end of the range.
    std::default_sentinel_t end() const noexcept { return {}; }

    /**
     * Fetches the next result without blocking the calling thread.
     *
     * @par Completion Signature
     * `void(std::exception_ptr, std::optional<value_type>)`: the next value, an empty optional at
     * the end, or the task's exception (also timeout_error once the map's deadline has passed
     * when a step starts).
     *
     * @par Per-Operation Cancellation
     * terminal, partial and total cancellation end the wait for the next result with
     * `system_error(operation_aborted)`; the map's tasks go on.
     *
     * @par Thread Safety
     * One operation at a time on a map_result: wait for this one to complete before the next
     * async_next, and do not mix it with a range-for over the same map_result. Distinct
     * map_results are independent.
     */
    template <boost::asio::completion_token_for<void(std::exception_ptr,
                                                     std::optional<value_type>)>
                  CompletionToken>
    auto async_next(CompletionToken&& token);

private:
    std::unique_ptr<detail::map_state<R>> s_;
    bool begun_ = false;
};

namespace detail {

/// The steps of map_result::async_next.
template <typename R>
struct async_next_op
{
    map_state<R>* s;
    bool requested = false;
    bool delivering = false;
    std::exception_ptr error{};
    std::optional<item_t<R>> value{};

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {})
    {
        if (delivering)
        {
            self.complete(std::move(error), std::move(value));
            return;
        }
        if (ec)
        {
            self.complete(std::make_exception_ptr(boost::system::system_error(
                              ec, "asio_pal: async_next cancelled")),
                          std::nullopt);
            return;
        }
        bool first = !requested;
        if (first) // honour partial and total cancellation too: they only end the wait
            self.reset_cancellation_state(boost::asio::enable_total_cancellation());
        typename map_state<R>::step st;
        typename map_state<R>::wait_target target;
        try
        {
            if (!requested)
            {
                requested = true;
                s->request_next();
            }
            if (s->expired())
                throw timeout_error("asio_pal: map iteration ran past its timeout");
            st = s->settle(target);
        }
        catch (...)
        {
            error = std::current_exception();
            st = map_state<R>::step::end;
        }
        if (st == map_state<R>::step::wait)
        {
            std::visit(
                [&](auto& f) {
                    if constexpr (!std::is_same_v<std::decay_t<decltype(f)>, std::monostate>)
                        f.async_wait(std::move(self));
                },
                target);
            return;
        }
        if (st == map_state<R>::step::ready)
            value.emplace(std::move(s->current()));
        if (first)
        {
            // Never complete inside the initiating call.
            delivering = true;
            boost::asio::post(std::move(self));
            return;
        }
        self.complete(std::move(error), std::move(value));
    }
};

} // namespace detail

template <typename R>
template <boost::asio::completion_token_for<void(std::exception_ptr,
                                                 std::optional<detail::item_t<R>>)>
              CompletionToken>
auto map_result<R>::async_next(CompletionToken&& token)
{
    return boost::asio::async_compose<CompletionToken,
                                      void(std::exception_ptr, std::optional<value_type>)>(
        detail::async_next_op<R>{s_.get()}, token);
}

namespace detail {

/// Splits `args` into (ranges..., options): the options are the last argument when present.
template <typename... Args>
constexpr bool ends_with_options =
    sizeof...(Args) > 0 &&
    std::is_same_v<std::remove_cvref_t<std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>>,
                   map_options>;

template <typename Tuple, std::size_t... I>
auto take_front(Tuple&& t, std::index_sequence<I...>)
{
    return std::forward_as_tuple(std::get<I>(std::forward<Tuple>(t))...);
}

/// Calls `fn(options, ranges...)` with the trailing map_options split off (or defaults).
template <typename Fn, typename... Args>
decltype(auto) with_map_options(Fn&& fn, Args&&... args)
{
    if constexpr (ends_with_options<Args...>)
    {
        auto all = std::forward_as_tuple(std::forward<Args>(args)...);
        const map_options& o = std::get<sizeof...(Args) - 1>(all);
        return std::apply([&](auto&&... rs) -> decltype(auto) {
            return fn(o, std::forward<decltype(rs)>(rs)...);
        },
                          take_front(std::move(all), std::make_index_sequence<sizeof...(Args) - 1>{}));
    }
    else
    {
        return fn(map_options{}, std::forward<Args>(args)...);
    }
}

/// The result type of applying F to the argument tuples of Source.
template <typename F, typename Tuple>
using apply_result_t =
    decltype(std::apply(std::declval<F&>(), std::declval<Tuple&&>()));

/// A chunk of a split map: calling it runs the function over its items.
template <typename R, typename F, typename Tuple>
class chunk_task
{
public:
    chunk_task(std::shared_ptr<F> f, std::vector<Tuple> items)
        : f_(std::move(f)), items_(std::move(items))
    {
    }

    /// Runs the chunk; returns one result per item, or throws the first exception.
    std::vector<item_t<R>> operator()()
    {
        std::vector<Tuple> items = items_; // callable more than once
        chunk_result<R> r = run_chunk<R>(*f_, items);
        if (r.error)
            std::rethrow_exception(r.error);
        return std::move(r.values);
    }

    std::size_t size() const noexcept { return items_.size(); }

private:
    std::shared_ptr<F> f_;
    std::vector<Tuple> items_;
};

/// The range split_map_task returns: chunk tasks made lazily from the source.
template <typename R, typename F, typename Source>
class split_range
{
public:
    using task_type = chunk_task<R, F, typename Source::tuple_type>;

    class iterator
    {
    public:
        using value_type = task_type;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() noexcept = default;
        task_type& operator*() const noexcept { return *r_->current_; }
        iterator& operator++()
        {
            r_->next();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.r_->at_end();
        }

    private:
        friend class split_range;
        explicit iterator(split_range* r) noexcept : r_(r) {}
        split_range* r_ = nullptr;
    };

    split_range(std::shared_ptr<F> f, Source&& src, std::size_t chunk_size)
        : f_(std::move(f)), source_(std::move(src)), chunk_size_(chunk_size)
    {
    }

    iterator begin()
    {
        if (!begun_)
        {
            begun_ = true;
            next();
        }
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }
    bool at_end() const noexcept { return !current_.has_value(); }

private:
    friend class iterator;

    void next()
    {
        current_.reset();
        if (exhausted_)
            return;
        std::vector<typename Source::tuple_type> items;
        items.reserve(chunk_size_);
        exhausted_ = !source_.next_chunk(items, chunk_size_);
        if (!items.empty())
            current_.emplace(f_, std::move(items));
    }

    std::shared_ptr<F> f_;
    Source source_;
    std::size_t chunk_size_;
    bool begun_ = false;
    bool exhausted_ = false;
    std::optional<task_type> current_;
};

} // namespace detail

/**
 * Cuts `f` over the zipped `ranges` into chunk tasks of `options.chunk_size` items: returns an
 * input range of no-argument callables, each returning its chunk's results as a std::vector.
 * `split_map_task(f, xs, ys, map_options{.chunk_size = 100})`; the options are optional.
 */
template <typename F, typename... Args>
auto split_map_task(F&& f, Args&&... ranges_then_options)
{
    return detail::with_map_options(
        [&](const map_options& o, auto&&... rs) {
            detail::validate_map_options(o);
            using source = detail::zip_source<decltype(rs)...>;
            using R = detail::apply_result_t<std::decay_t<F>, typename source::tuple_type>;
            return detail::split_range<R, std::decay_t<F>, source>(
                std::make_shared<std::decay_t<F>>(std::forward<F>(f)),
                source(std::forward<decltype(rs)>(rs)...), o.chunk_size);
        },
        std::forward<Args>(ranges_then_options)...);
}

/// As split_map_task, over a range of argument tuples.
template <typename F, typename Tuples>
auto split_starmap_task(F&& f, Tuples&& tuples, const map_options& options = {})
{
    detail::validate_map_options(options);
    using source = detail::tuple_source<Tuples>;
    using R = detail::apply_result_t<std::decay_t<F>, typename source::tuple_type>;
    return detail::split_range<R, std::decay_t<F>, source>(
        std::make_shared<std::decay_t<F>>(std::forward<F>(f)), source(std::forward<Tuples>(tuples)),
        options.chunk_size);
}

namespace detail {

/// Builds a map_result over `source`, submitting each chunk with `submit_chunk(items)`.
template <typename R, typename Source, typename Submit>
map_result<R> make_map(const map_options& o, bool lazy, Source&& source, Submit&& submit_chunk)
{
    auto s = std::make_unique<source_map_state<R, std::decay_t<Source>, std::decay_t<Submit>>>(
        o, lazy, std::forward<Source>(source), std::forward<Submit>(submit_chunk));
    if (!lazy)
        s->submit_all();
    return map_result<R>(std::move(s));
}

/**
 * The map family over any pool kind. `make_submitter(type_identity<R>, type_identity<Tuple>,
 * shared_ptr<F>)` returns the pool's `future<chunk_result<R>>(std::vector<Tuple>&&, Before&&)`
 * function, which calls `before_queued(f)` with the chunk's future before the chunk can start.
 * `keep_order` overrides the options' field (the _unordered variants).
 */
template <typename MakeSubmitter, typename F, typename... Args>
auto map_over(MakeSubmitter&& make_submitter, bool lazy, std::optional<bool> keep_order, F&& f,
              Args&&... ranges_then_options)
{
    return with_map_options(
        [&](map_options o, auto&&... rs) {
            static_assert(sizeof...(rs) > 0, "asio_pal: map needs at least one input range");
            if (keep_order)
                o.keep_order = *keep_order;
            using source = zip_source<decltype(rs)...>;
            using tuple_type = typename source::tuple_type;
            using R = apply_result_t<std::decay_t<F>, tuple_type>;
            return make_map<R>(o, lazy, source(std::forward<decltype(rs)>(rs)...),
                               make_submitter(std::type_identity<R>{},
                                              std::type_identity<tuple_type>{},
                                              std::make_shared<std::decay_t<F>>(std::forward<F>(f))));
        },
        std::forward<Args>(ranges_then_options)...);
}

/// The starmap family over any pool kind; see map_over.
template <typename MakeSubmitter, typename F, typename Tuples>
auto starmap_over(MakeSubmitter&& make_submitter, bool lazy, std::optional<bool> keep_order,
                  F&& f, Tuples&& tuples, map_options o)
{
    if (keep_order)
        o.keep_order = *keep_order;
    using source = tuple_source<Tuples>;
    using tuple_type = typename source::tuple_type;
    using R = apply_result_t<std::decay_t<F>, tuple_type>;
    return make_map<R>(o, lazy, source(std::forward<Tuples>(tuples)),
                       make_submitter(std::type_identity<R>{}, std::type_identity<tuple_type>{},
                                      std::make_shared<std::decay_t<F>>(std::forward<F>(f))));
}

/**
 * The map family as members of a pool. `Pool` derives from map_family<Pool> and provides
 * `chunk_submitter()` (see map_over), which is all that differs between pool kinds.
 */
template <typename Pool>
class map_family
{
public:
    /**
     * Lazy map: `f(x, y, ...)` over the zipped input ranges (shortest wins; infinite and
     * single-pass ranges welcome), with an optional trailing map_options. Nothing is submitted
     * before the first result is requested; at most `buffer_size` chunks of `chunk_size` items
     * are submitted and not yet consumed. Returns an input range of results (map_result).
     */
    template <typename F, typename... Args>
    auto map(F&& f, Args&&... ranges_then_options)
    {
        return map_over(submitter(), true, std::nullopt, std::forward<F>(f),
                        std::forward<Args>(ranges_then_options)...);
    }
    /// As map(), but submits every chunk now.
    template <typename F, typename... Args>
    auto map_all(F&& f, Args&&... ranges_then_options)
    {
        return map_over(submitter(), false, std::nullopt, std::forward<F>(f),
                        std::forward<Args>(ranges_then_options)...);
    }
    /// As map(), yielding results in completion order.
    template <typename F, typename... Args>
    auto map_unordered(F&& f, Args&&... ranges_then_options)
    {
        return map_over(submitter(), true, false, std::forward<F>(f),
                        std::forward<Args>(ranges_then_options)...);
    }
    /// As map_all(), yielding results in completion order.
    template <typename F, typename... Args>
    auto map_all_unordered(F&& f, Args&&... ranges_then_options)
    {
        return map_over(submitter(), false, false, std::forward<F>(f),
                        std::forward<Args>(ranges_then_options)...);
    }
    /// Lazy map of `std::apply(f, t)` over a range of tuples.
    template <typename F, typename Tuples>
    auto starmap(F&& f, Tuples&& tuples, const map_options& options = {})
    {
        return starmap_over(submitter(), true, std::nullopt, std::forward<F>(f),
                            std::forward<Tuples>(tuples), options);
    }
    /// As starmap(), but submits every chunk now.
    template <typename F, typename Tuples>
    auto starmap_all(F&& f, Tuples&& tuples, const map_options& options = {})
    {
        return starmap_over(submitter(), false, std::nullopt, std::forward<F>(f),
                            std::forward<Tuples>(tuples), options);
    }
    /// As starmap(), yielding results in completion order.
    template <typename F, typename Tuples>
    auto starmap_unordered(F&& f, Tuples&& tuples, const map_options& options = {})
    {
        return starmap_over(submitter(), true, false, std::forward<F>(f),
                            std::forward<Tuples>(tuples), options);
    }
    /// As starmap_all(), yielding results in completion order.
    template <typename F, typename Tuples>
    auto starmap_all_unordered(F&& f, Tuples&& tuples, const map_options& options = {})
    {
        return starmap_over(submitter(), false, false, std::forward<F>(f),
                            std::forward<Tuples>(tuples), options);
    }

protected:
    map_family() = default;
    ~map_family() = default;

private:
    auto submitter() { return static_cast<Pool&>(*this).chunk_submitter(); }
};

} // namespace detail
} // namespace asio_pal

#endif // ASIO_PAL_MAP_HPP
